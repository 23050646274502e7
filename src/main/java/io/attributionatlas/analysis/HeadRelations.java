package io.attributionatlas.analysis;

import io.attributionatlas.model.EncodedText;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Set;

/**
 * Per head, the attention conductance summed by token pair and relation kind (head_relations): each sample adds
 * the {@link io.attributionatlas.attribution.HeadReductions#RELATION_PAIRS} pairs of each head with the largest
 * |conductance|, as the engine chose them on the model's device; count is how often a key was among them. Keys are
 * the source and target token ids and the kind packed in one long; token texts are kept once per id and resolved
 * when the table is written. A head keeps at most {@link #CAP}
 * entries; beyond that the {@link #KEEP} largest |sum| survive, chosen by selection, not by sorting.
 */
public final class HeadRelations implements Serializable {

    private static final long serialVersionUID = 1L;

    /**
     * Relation entries kept per head before pruning, and how many survive a prune (and leave a partition):
     * 72 heads × 2,000 entries is a few MB to ship, where 20,000 a head was 250 MB of heap per partition.
     */
    static final int CAP = 8_000;
    static final int KEEP = 2_000;
    /**
     * The same for a slice's statistics (every slice value holds its own relations, and a partition holds them all
     * while it runs): an eighth, so that 16 slice values cost what two whole-corpus statistics do.
     */
    static final int SLICE_CAP = 1_000;
    static final int SLICE_KEEP = 250;

    private final int cap;
    private final int keep;

    /** How query token i relates to key token j, in order of precedence. */
    enum Kind {
        SELF, TO_SPECIAL, FROM_SPECIAL, ACROSS_SEGMENTS, SAME_TOKEN, SAME_WORD, ADJACENT, OTHER;

        String tableName() {
            return name().toLowerCase(Locale.ROOT);
        }

        static Kind of(EncodedText e, int i, int j) {
            if (i == j) {
                return SELF;
            }
            if (e.special()[j]) {
                return TO_SPECIAL;
            }
            if (e.special()[i]) {
                return FROM_SPECIAL;
            }
            if (e.sequence()[i] != e.sequence()[j]) {
                return ACROSS_SEGMENTS;
            }
            if (e.ids()[i] == e.ids()[j]) {
                return SAME_TOKEN;
            }
            if (e.words()[i] == e.words()[j]) {
                return SAME_WORD;
            }
            return Math.abs(i - j) == 1 ? ADJACENT : OTHER;
        }
    }

    /** One row of head_relations. */
    public record Relation(String source, String target, String kind, long count, double sum) {
    }

    /** Token ids take 29 bits of a key (vocabularies have at most a few hundred thousand tokens). */
    private static final long ID_LIMIT = 1L << 29;

    private final List<HashMap<Long, double[]>> byHead = new ArrayList<>();
    private final Map<Long, String> tokens = new HashMap<>();

    HeadRelations(int heads) {
        this(heads, CAP, KEEP);
    }

    HeadRelations(int heads, int cap, int keep) {
        this.cap = cap;
        this.keep = keep;
        for (int h = 0; h < heads; h++) {
            byHead.add(new HashMap<>());
        }
    }

    /**
     * Adds one head's chosen token pairs of a sample (i · n + j, the engine's largest |conductance|) with their
     * conductance, keyed by (source id, target id, kind); keeps the token texts of their ids.
     */
    void add(int head, EncodedText e, int[] pairs, float[] conductance) {
        int n = e.length();
        long[] keys = new long[pairs.length];
        for (int p = 0; p < pairs.length; p++) {
            int i = pairs[p] / n;
            int j = pairs[p] % n;
            keys[p] = key(e, i, j);
            tokens.putIfAbsent(e.ids()[i], e.tokens()[i]);
            tokens.putIfAbsent(e.ids()[j], e.tokens()[j]);
        }
        add(head, keys, conductance);
    }

    /** The key of query token i and key token j of a sample: source id, target id, kind. */
    static long key(EncodedText e, int i, int j) {
        for (long id : new long[] {e.ids()[i], e.ids()[j]}) {
            if (id >= ID_LIMIT) {
                throw new IllegalStateException("token id " + id + " is beyond the relation keys' 29 bits");
            }
        }
        return (e.ids()[i] << 32) | (e.ids()[j] << 3) | Kind.of(e, i, j).ordinal();
    }

    /** Adds values under their keys to one head, then prunes it to the cap. */
    void add(int head, long[] keys, float[] values) {
        HashMap<Long, double[]> relations = byHead.get(head);
        for (int p = 0; p < keys.length; p++) {
            double[] acc = relations.computeIfAbsent(keys[p], k -> new double[2]);
            acc[0]++;
            acc[1] += values[p];
        }
        prune(relations, cap, keep);
    }

    void merge(HeadRelations o) {
        o.tokens.forEach(tokens::putIfAbsent);
        for (int h = 0; h < byHead.size(); h++) {
            HashMap<Long, double[]> mine = byHead.get(h);
            o.byHead.get(h).forEach((k, v) -> {
                double[] acc = mine.computeIfAbsent(k, x -> new double[2]);
                acc[0] += v[0];
                acc[1] += v[1];
            });
            prune(mine, cap, keep);
        }
    }

    /** Prunes every head to {@link #KEEP} entries and forgets the texts of ids no entry uses. */
    void compact() {
        Set<Long> used = new HashSet<>();
        for (HashMap<Long, double[]> relations : byHead) {
            prune(relations, keep, keep);
            for (long key : relations.keySet()) {
                used.add(key >>> 32);
                used.add((key >>> 3) & (ID_LIMIT - 1));
            }
        }
        tokens.keySet().retainAll(used);
    }

    /** The {@code k} entries of a head with the largest |sum| (ties by key), largest first. */
    List<Relation> top(int head, int k) {
        Comparator<Map.Entry<Long, double[]>> order = Comparator.<Map.Entry<Long, double[]>>comparingDouble(
                en -> -Math.abs(en.getValue()[1])).thenComparing(Map.Entry::getKey);
        PriorityQueue<Map.Entry<Long, double[]>> heap = new PriorityQueue<>(order.reversed());
        for (Map.Entry<Long, double[]> en : byHead.get(head).entrySet()) {
            heap.add(en);
            if (heap.size() > k) {
                heap.poll();
            }
        }
        List<Map.Entry<Long, double[]>> kept = new ArrayList<>(heap);
        kept.sort(order);
        List<Relation> out = new ArrayList<>();
        for (Map.Entry<Long, double[]> en : kept) {
            long key = en.getKey();
            out.add(new Relation(tokens.get(key >>> 32), tokens.get((key >>> 3) & (ID_LIMIT - 1)),
                    Kind.values()[(int) (key & 7)].tableName(), (long) en.getValue()[0], en.getValue()[1]));
        }
        return out;
    }

    /**
     * Keeps the {@code keep} entries with the largest |sum| once there are more than {@code cap}: the keep-th
     * largest |sum| found by selection, then entries below it dropped (ties at it: the smaller keys stay).
     */
    private static void prune(HashMap<Long, double[]> relations, int cap, int keep) {
        if (relations.size() <= cap) {
            return;
        }
        double[] magnitudes = new double[relations.size()];
        int m = 0;
        for (double[] v : relations.values()) {
            magnitudes[m++] = Math.abs(v[1]);
        }
        double threshold = largest(magnitudes, keep);
        relations.values().removeIf(v -> Math.abs(v[1]) < threshold);
        if (relations.size() > keep) {
            long[] tied = relations.entrySet().stream().filter(en -> Math.abs(en.getValue()[1]) == threshold)
                    .mapToLong(Map.Entry::getKey).sorted().toArray();
            int drop = relations.size() - keep;
            for (int t = tied.length - drop; t < tied.length; t++) {
                relations.remove(tied[t]);
            }
        }
    }

    /** The k-th largest of {@code v} (1-based), by quickselect; {@code v} is reordered. */
    static double largest(double[] v, int k) {
        int target = v.length - k; // its index in ascending order
        int lo = 0;
        int hi = v.length - 1;
        java.util.Random random = new java.util.Random(v.length);
        while (lo < hi) {
            double pivot = v[lo + random.nextInt(hi - lo + 1)];
            int i = lo;
            int j = hi;
            while (i <= j) {
                while (v[i] < pivot) {
                    i++;
                }
                while (v[j] > pivot) {
                    j--;
                }
                if (i <= j) {
                    double t = v[i];
                    v[i++] = v[j];
                    v[j--] = t;
                }
            }
            if (target <= j) {
                hi = j;
            } else if (target >= i) {
                lo = i;
            } else {
                return v[target];
            }
        }
        return v[target];
    }
}
