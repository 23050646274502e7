package io.attributionatlas.analysis;

import io.attributionatlas.attribution.Faithfulness;
import io.attributionatlas.attribution.HeadConductance;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.schema.Keys;
import io.attributionatlas.schema.Metrics;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The mergeable sufficient statistics behind the corpus tables: per-head metric moments
 * (head_stats), token attribution sums (token_importance), layer × layer conductance correlations and
 * per-head attention-vs-conductance correlations (layer_correlations), head × head Jensen–Shannon
 * distance sums (head_similarity) and per-head token-pair relation sums (head_relations). Built per
 * partition, merged associatively; everything but head_relations merges exactly (relations keep a
 * bounded list per head: see {@link HeadRelations}). Token importance is keyed by words, whose number grows with
 * the corpus: the job takes each partition's sums out as rows and lets Spark aggregate them, so merged statistics
 * on the driver hold none.
 */
public final class CorpusStatistics implements Serializable {

    private static final long serialVersionUID = 1L;

    private final int layers;
    private final int heads;
    long samples;
    final Map<String, Moments[]> headStats = new TreeMap<>();
    /** Per token key: count, sum, sum of |score|, sum of squares. */
    public static final int TOKEN_SUMS = 4;
    /** {count, sum, sum of |score|, sum of squares} by token key. */
    final Map<Keys.Token, double[]> tokenImportance = new HashMap<>();
    String tokenSource;
    /** Moments and a histogram of the per-sample values of each agreement metric. */
    final Map<Keys.Agreement, Moments> agreement = new TreeMap<>();
    final Map<Keys.Agreement, long[]> agreementHistogram = new TreeMap<>();
    /** Moments of the per-sample values of each faithfulness metric. */
    final Map<Keys.Faithfulness, Moments> faithfulness = new TreeMap<>();

    /** Bins of the agreement histograms: over [−1, 1] for correlations, [0, 1] for the rest. */
    public static final int AGREEMENT_BINS = 10;
    final Correlation[] layerCorrelations;
    final Correlation[] attentionVsConductance;
    final double[] jsDistanceSums;
    long jsSamples;
    final HeadRelations relations;

    public CorpusStatistics(int layers, int heads) {
        this(layers, heads, new HeadRelations(layers * heads));
    }

    /** A slice's statistics: the same, with a smaller head_relations budget per head (see {@link HeadRelations}). */
    public static CorpusStatistics forSlice(int layers, int heads) {
        return new CorpusStatistics(layers, heads, new HeadRelations(layers * heads, HeadRelations.SLICE_CAP,
                HeadRelations.SLICE_KEEP));
    }

    private CorpusStatistics(int layers, int heads, HeadRelations relations) {
        this.layers = layers;
        this.heads = heads;
        layerCorrelations = new Correlation[layers * layers];
        attentionVsConductance = new Correlation[layers * heads];
        for (int i = 0; i < layerCorrelations.length; i++) {
            layerCorrelations[i] = new Correlation();
        }
        for (int i = 0; i < attentionVsConductance.length; i++) {
            attentionVsConductance[i] = new Correlation();
        }
        jsDistanceSums = new double[layers * heads * layers * heads];
        this.relations = relations;
    }

    public int layers() {
        return layers;
    }

    public int heads() {
        return heads;
    }

    public long samples() {
        return samples;
    }

    public void add(SampleAttribution s) {
        samples++;
        for (Map.Entry<String, float[][]> m : HeadMetrics.of(s).entrySet()) {
            Moments[] moments = headStats.computeIfAbsent(m.getKey(), k -> newMoments());
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    moments[l * heads + h].add(m.getValue()[l][h]);
                }
            }
        }
        TargetAttribution head = s.targets().isEmpty() ? null : s.targets().get(0);
        if (head != null && head.methods() != null) {
            for (MethodScores method : head.methods().values()) {
                if (method.headScores() == null) {
                    continue;
                }
                // per head: the method's head score (attention attribution: its largest entry), first target
                Moments[] moments = headStats.computeIfAbsent(method.name(), k -> newMoments());
                for (int l = 0; l < layers; l++) {
                    for (int h = 0; h < heads; h++) {
                        moments[l * heads + h].add(method.headScores()[l][h]);
                    }
                }
            }
        }
        EncodedText e = s.sample().encoding();
        for (TargetAttribution t : s.targets()) {
            String target = t.name().equals("class") ? t.label() : t.name();
            if (t.methods() != null && !t.methods().isEmpty()) {
                String[] words = wordTexts(e);
                for (MethodScores m : t.methods().values()) {
                    addImportance(m.name(), Metrics.UNIT_WORD_PIECE, e.tokens(), m.tokenAttributions(), target);
                    addImportance(m.name(), Metrics.UNIT_WORD, words, m.wordAttributions(), target);
                }
                addAgreement(t.methods(), target, e);
                addFaithfulness(t.faithfulness(), target);
                continue;
            }
            float[] scores = t.igTokenSum() != null ? t.igTokenSum() : t.gradXInput();
            if (scores == null) {
                continue;
            }
            tokenSource = t.igTokenSum() != null ? Metrics.PREFERRED_TOKEN_METHOD : "grad_x_input";
            addImportance(tokenSource, Metrics.UNIT_WORD_PIECE, e.tokens(), scores, target);
        }
        TargetAttribution first = s.targets().isEmpty() ? null : s.targets().get(0);
        if (first != null && first.layerTokenSum() != null) {
            float[][] c = first.layerTokenSum();
            for (int a = 0; a < layers; a++) {
                for (int b = 0; b < layers; b++) {
                    Correlation corr = layerCorrelations[a * layers + b];
                    for (int i = 0; i < c[a].length; i++) {
                        corr.add(c[a][i], c[b][i]);
                    }
                    corr.addSample(Correlation.of(c[a], c[b]));
                }
            }
        }
        if (first != null && first.headConductance() != null) {
            addAttentionConductance(e, first.headConductance());
        }
        if (s.headSimilarity() != null) {
            addHeadSimilarity(s.headSimilarity());
        }
    }

    private void addImportance(String method, String unit, String[] units, float[] scores, String target) {
        for (int i = 0; i < units.length; i++) {
            double[] acc = tokenImportance.computeIfAbsent(new Keys.Token(method, unit, units[i], target),
                    k -> new double[TOKEN_SUMS]);
            acc[0]++;
            acc[1] += scores[i];
            acc[2] += Math.abs(scores[i]);
            acc[3] += (double) scores[i] * scores[i];
        }
    }

    /** Each word's text: its word pieces joined, without WordPiece's ## or the BPE / SentencePiece space marks. */
    static String[] wordTexts(EncodedText e) {
        StringBuilder[] words = new StringBuilder[MethodScores.wordCount(e.words())];
        for (int i = 0; i < e.length(); i++) {
            int w = e.words()[i];
            if (w < 0) {
                continue;
            }
            String piece = e.tokens()[i];
            if (words[w] == null) {
                words[w] = new StringBuilder();
                piece = piece.replaceFirst("^[\u0120\u2581]", "");
            }
            words[w].append(piece.startsWith("##") ? piece.substring(2) : piece);
        }
        String[] out = new String[words.length];
        for (int w = 0; w < out.length; w++) {
            out[w] = words[w] == null ? "" : words[w].toString();
        }
        return out;
    }

    private void addFaithfulness(Map<String, double[]> byMethod, String target) {
        if (byMethod == null) {
            return;
        }
        int n = Faithfulness.FRACTIONS.length;
        byMethod.forEach((method, v) -> {
            for (int part = 0; part < 2; part++) {
                String metric = part == 0 ? Metrics.COMPREHENSIVENESS : Metrics.SUFFICIENCY;
                for (int i = 0; i < n; i++) {
                    faithfulness.computeIfAbsent(new Keys.Faithfulness(method, target, metric,
                            Double.toString(Faithfulness.FRACTIONS[i])), k -> new Moments()).add(v[part * n + i]);
                }
                faithfulness.computeIfAbsent(new Keys.Faithfulness(method, target, metric, Metrics.AOPC),
                        k -> new Moments()).add(Faithfulness.aopc(v, part));
            }
        });
    }

    /** Every pair of methods, on the sample's non-special tokens and on its words; each method ranked once. */
    private void addAgreement(Map<String, MethodScores> methods, String target, EncodedText e) {
        List<MethodScores> list = new ArrayList<>(methods.values());
        MethodAgreement.Ranked[] pieces = new MethodAgreement.Ranked[list.size()];
        MethodAgreement.Ranked[] words = new MethodAgreement.Ranked[list.size()];
        for (int x = 0; x < list.size(); x++) {
            pieces[x] = MethodAgreement.rank(content(list.get(x).tokenAttributions(), e));
            words[x] = MethodAgreement.rank(doubles(list.get(x).wordAttributions()));
        }
        for (int x = 0; x < list.size(); x++) {
            for (int y = x + 1; y < list.size(); y++) {
                String a = list.get(x).name();
                String b = list.get(y).name();
                addAgreement(a, b, target, Metrics.UNIT_WORD_PIECE, MethodAgreement.compare(pieces[x], pieces[y]));
                addAgreement(a, b, target, Metrics.UNIT_WORD, MethodAgreement.compare(words[x], words[y]));
            }
        }
    }

    private void addAgreement(String a, String b, String target, String unit, double[] values) {
        for (int m = 0; m < values.length; m++) {
            if (Double.isNaN(values[m])) {
                continue;
            }
            String metric = MethodAgreement.METRICS[m];
            Keys.Agreement key = new Keys.Agreement(a, b, target, unit, metric);
            agreement.computeIfAbsent(key, k -> new Moments()).add(values[m]);
            double lo = MethodAgreement.isCorrelation(metric) ? -1 : 0;
            int bin = (int) Math.floor((values[m] - lo) / (1 - lo) * AGREEMENT_BINS);
            agreementHistogram.computeIfAbsent(key, k -> new long[AGREEMENT_BINS])[Math.max(0,
                    Math.min(AGREEMENT_BINS - 1, bin))]++;
        }
    }

    private static double[] content(float[] scores, EncodedText e) {
        int count = 0;
        for (boolean special : e.special()) {
            count += special ? 0 : 1;
        }
        double[] out = new double[count];
        for (int i = 0, k = 0; i < scores.length; i++) {
            if (!e.special()[i]) {
                out[k++] = scores[i];
            }
        }
        return out;
    }

    private static double[] doubles(float[] v) {
        double[] out = new double[v.length];
        for (int i = 0; i < v.length; i++) {
            out[i] = v[i];
        }
        return out;
    }

    private Moments[] newMoments() {
        Moments[] m = new Moments[layers * heads];
        for (int i = 0; i < m.length; i++) {
            m[i] = new Moments();
        }
        return m;
    }

    /** Per head: attention vs conductance (pooled and per sample) and the head's chosen token-pair relations. */
    private void addAttentionConductance(EncodedText e, HeadConductance c) {
        long pairs = (long) e.length() * e.length();
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                float[] m = c.moments()[l][h]; // mean a, mean c, Σ(a − ā)², Σ(c − c̄)², Σ(a − ā)(c − c̄)
                Correlation corr = attentionVsConductance[l * heads + h];
                corr.addMoments(pairs, m[0], m[1], m[2], m[3], m[4]);
                corr.addSample(Correlation.ofMoments(pairs, m[2], m[3], m[4]));
                relations.add(l * heads + h, e, c.pairs()[l][h], c.pairValues()[l][h]);
            }
        }
    }

    /** Prunes every head's relations to the kept size: call before the statistics leave their task. */
    public CorpusStatistics compact() {
        relations.compact();
        return this;
    }

    /** A sample's mean JS distances between heads x < y (computed on the model's device by the engine). */
    private void addHeadSimilarity(float[] distances) {
        int p = layers * heads;
        for (int x = 0; x < p; x++) {
            for (int y = x + 1; y < p; y++) {
                jsDistanceSums[x * p + y] += distances[x * p + y];
            }
        }
        jsSamples++;
    }

    public CorpusStatistics merge(CorpusStatistics o) {
        samples += o.samples;
        o.headStats.forEach((k, v) -> {
            Moments[] mine = headStats.computeIfAbsent(k, x -> newMoments());
            for (int i = 0; i < v.length; i++) {
                mine[i].merge(v[i]);
            }
        });
        o.tokenImportance.forEach((k, v) -> {
            double[] mine = tokenImportance.computeIfAbsent(k, x -> new double[TOKEN_SUMS]);
            for (int i = 0; i < TOKEN_SUMS; i++) {
                mine[i] += v[i];
            }
        });
        if (tokenSource == null) {
            tokenSource = o.tokenSource;
        }
        o.agreement.forEach((k, v) -> agreement.computeIfAbsent(k, x -> new Moments()).merge(v));
        o.faithfulness.forEach((k, v) -> faithfulness.computeIfAbsent(k, x -> new Moments()).merge(v));
        o.agreementHistogram.forEach((k, v) -> {
            long[] mine = agreementHistogram.computeIfAbsent(k, x -> new long[AGREEMENT_BINS]);
            for (int i = 0; i < AGREEMENT_BINS; i++) {
                mine[i] += v[i];
            }
        });
        for (int i = 0; i < layerCorrelations.length; i++) {
            layerCorrelations[i].merge(o.layerCorrelations[i]);
        }
        for (int i = 0; i < attentionVsConductance.length; i++) {
            attentionVsConductance[i].merge(o.attentionVsConductance[i]);
        }
        relations.merge(o.relations);
        for (int i = 0; i < jsDistanceSums.length; i++) {
            jsDistanceSums[i] += o.jsDistanceSums[i];
        }
        jsSamples += o.jsSamples;
        return this;
    }

    // Read access for the table writers.

    public Map<String, Moments[]> headStats() {
        return headStats;
    }

    public Map<Keys.Token, double[]> tokenImportance() {
        return tokenImportance;
    }

    public String tokenSource() {
        return tokenSource;
    }

    /** Method-agreement moments by key. */
    public Map<Keys.Agreement, Moments> agreement() {
        return agreement;
    }

    /** Faithfulness moments by key. */
    public Map<Keys.Faithfulness, Moments> faithfulness() {
        return faithfulness;
    }

    public long[] agreementHistogram(Keys.Agreement key) {
        return agreementHistogram.get(key);
    }

    public Correlation layerCorrelation(int a, int b) {
        return layerCorrelations[a * layers + b];
    }

    public Correlation attentionVsConductance(int layer, int head) {
        return attentionVsConductance[layer * heads + head];
    }

    /** Mean JS distance between heads x and y (flat indices layer·heads + head), or NaN. */
    public double meanJsDistance(int x, int y) {
        if (jsSamples == 0) {
            return Double.NaN;
        }
        if (x == y) {
            return 0;
        }
        int p = layers * heads;
        return (x < y ? jsDistanceSums[x * p + y] : jsDistanceSums[y * p + x]) / jsSamples;
    }

    public long jsSamples() {
        return jsSamples;
    }

    /** A head's {@code k} relations with the largest |sum| of conductance, largest first (head_relations). */
    public List<HeadRelations.Relation> topRelations(int layer, int head, int k) {
        return relations.top(layer * heads + head, k);
    }
}
