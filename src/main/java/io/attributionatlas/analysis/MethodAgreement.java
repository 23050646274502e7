package io.attributionatlas.analysis;

import java.util.Arrays;

/**
 * How two attribution methods agree on one sample's scores (of the same tokens or words): Spearman's rank
 * correlation (average ranks for ties), Kendall's τ-b, the overlap of their top-k by |score| (k = 1, 3, 5, as a
 * fraction of k, or of the length when shorter; ties by position), and the fraction of positions with the same
 * sign. Each method's scores are {@linkplain #rank ranked} once for all its pairs; a pair then costs O(n log n)
 * (Kendall's τ-b by Knight's merge-sort count), on primitive arrays.
 */
public final class MethodAgreement {

    /** The metrics, in table order; correlations lie in [−1, 1], the others in [0, 1]. */
    public static final String[] METRICS = {"spearman", "kendall", "top1_overlap", "top3_overlap", "top5_overlap",
        "sign_agreement"};
    private static final int[] TOP_K = {1, 3, 5};

    /**
     * One method's scores prepared for every pair: average ranks (1-based), dense ranks (equal scores, equal
     * rank), and the positions of its largest |scores| in order (ties by position), as many as the largest k.
     */
    public static final class Ranked {
        final double[] scores;
        final double[] ranks;
        final int[] dense;
        final int[] top;

        private Ranked(double[] scores, double[] ranks, int[] dense, int[] top) {
            this.scores = scores;
            this.ranks = ranks;
            this.dense = dense;
            this.top = top;
        }
    }

    private MethodAgreement() {
    }

    public static boolean isCorrelation(String metric) {
        return metric.equals("spearman") || metric.equals("kendall");
    }

    /** Ranks one method's scores; −0 and +0 are the same score. */
    public static Ranked rank(double[] values) {
        int n = values.length;
        double[] scores = new double[n];
        for (int i = 0; i < n; i++) {
            scores[i] = values[i] + 0.0; // −0.0 + 0.0 = +0.0
        }
        double[] sorted = scores.clone();
        Arrays.sort(sorted);
        int distinct = 0;
        for (int i = 0; i < n; i++) {
            if (i == 0 || Double.compare(sorted[i], sorted[distinct - 1]) != 0) {
                sorted[distinct++] = sorted[i];
            }
        }
        // counts[d]: how many scores equal the d-th distinct one; first[d]: its first 0-based sorted position.
        int[] dense = new int[n];
        int[] counts = new int[distinct];
        for (int i = 0; i < n; i++) {
            dense[i] = Arrays.binarySearch(sorted, 0, distinct, scores[i]);
            counts[dense[i]]++;
        }
        double[] averageRank = new double[distinct];
        for (int d = 0, first = 0; d < distinct; first += counts[d], d++) {
            averageRank[d] = first + (counts[d] + 1) / 2.0;
        }
        double[] ranks = new double[n];
        for (int i = 0; i < n; i++) {
            ranks[i] = averageRank[dense[i]];
        }
        return new Ranked(scores, ranks, dense, largest(scores, TOP_K[TOP_K.length - 1]));
    }

    /** Every metric for the pair, in {@link #METRICS} order; correlations are NaN when either side is constant. */
    public static double[] compare(Ranked a, Ranked b) {
        int n = a.scores.length;
        double[] out = new double[METRICS.length];
        out[0] = pearson(a.ranks, b.ranks);
        out[1] = kendallTauB(a.dense, b.dense);
        for (int t = 0; t < TOP_K.length; t++) {
            out[2 + t] = topOverlap(a.top, b.top, Math.min(TOP_K[t], n));
        }
        int same = 0;
        for (int i = 0; i < n; i++) {
            same += Math.signum(a.scores[i]) == Math.signum(b.scores[i]) ? 1 : 0;
        }
        out[5] = n == 0 ? Double.NaN : same / (double) n;
        return out;
    }

    /** The positions of the {@code k} largest |v| (fewer when shorter), largest first, ties by position. */
    private static int[] largest(double[] v, int k) {
        int[] top = new int[Math.min(k, v.length)];
        int size = 0;
        for (int i = 0; i < v.length; i++) {
            double magnitude = Math.abs(v[i]);
            int at = size;
            while (at > 0 && Math.abs(v[top[at - 1]]) < magnitude) { // strict: an earlier equal stays ahead
                at--;
            }
            if (at < top.length) {
                int end = Math.min(size, top.length - 1);
                System.arraycopy(top, at, top, at + 1, end - at);
                top[at] = i;
                size = Math.min(size + 1, top.length);
            }
        }
        return top;
    }

    private static double topOverlap(int[] a, int[] b, int k) {
        if (k == 0) {
            return Double.NaN;
        }
        int both = 0;
        for (int i = 0; i < k; i++) {
            for (int j = 0; j < k; j++) {
                both += a[i] == b[j] ? 1 : 0;
            }
        }
        return both / (double) k;
    }

    private static double pearson(double[] x, double[] y) {
        int n = x.length;
        if (n < 2) {
            return Double.NaN;
        }
        double mx = 0;
        double my = 0;
        for (int i = 0; i < n; i++) {
            mx += x[i];
            my += y[i];
        }
        mx /= n; // ranks are halves: these sums are exact, and a constant side gives sxx = 0 exactly
        my /= n;
        double sxy = 0;
        double sxx = 0;
        double syy = 0;
        for (int i = 0; i < n; i++) {
            sxy += (x[i] - mx) * (y[i] - my);
            sxx += (x[i] - mx) * (x[i] - mx);
            syy += (y[i] - my) * (y[i] - my);
        }
        return sxx == 0 || syy == 0 ? Double.NaN : sxy / Math.sqrt(sxx * syy);
    }

    /**
     * Kendall's τ-b from dense ranks in O(n log n) (Knight 1966): pairs sorted by (a, b); n1, n2, n3 the pairs
     * tied in a, in b and in both; the discordant pairs are the inversions of the b sequence, counted by a merge
     * sort. τ-b = (n0 − n1 − n2 + n3 − 2·discordant) / √((n0 − n1)(n0 − n2)).
     */
    static double kendallTauB(int[] a, int[] b) {
        int n = a.length;
        long[] keys = new long[n];
        for (int i = 0; i < n; i++) {
            keys[i] = ((long) a[i] << 32) | b[i];
        }
        Arrays.sort(keys);
        long tiedA = 0;
        long tiedBoth = 0;
        for (int i = 0, runA = 1, runBoth = 1; i < n; i++) {
            boolean sameA = i + 1 < n && (keys[i + 1] >>> 32) == (keys[i] >>> 32);
            boolean sameBoth = i + 1 < n && keys[i + 1] == keys[i];
            if (!sameA) {
                tiedA += (long) runA * (runA - 1) / 2;
                runA = 0;
            }
            if (!sameBoth) {
                tiedBoth += (long) runBoth * (runBoth - 1) / 2;
                runBoth = 0;
            }
            runA++;
            runBoth++;
        }
        int[] sequence = new int[n];
        for (int i = 0; i < n; i++) {
            sequence[i] = (int) keys[i];
        }
        long discordant = inversions(sequence, new int[n], 0, n);
        long tiedB = 0;
        for (int i = 0, run = 1; i < n; i++, run++) { // sequence is sorted now
            if (i + 1 == n || sequence[i + 1] != sequence[i]) {
                tiedB += (long) run * (run - 1) / 2;
                run = 0;
            }
        }
        long pairs = (long) n * (n - 1) / 2;
        double denominator = Math.sqrt((double) (pairs - tiedA) * (pairs - tiedB));
        return denominator == 0 ? Double.NaN
                : (pairs - tiedA - tiedB + tiedBoth - 2.0 * discordant) / denominator;
    }

    /** Sorts v[from, to) and returns its strict inversions (i < j, v[i] > v[j]). */
    private static long inversions(int[] v, int[] buffer, int from, int to) {
        if (to - from < 2) {
            return 0;
        }
        int middle = (from + to) >>> 1;
        long count = inversions(v, buffer, from, middle) + inversions(v, buffer, middle, to);
        int i = from;
        int j = middle;
        int k = from;
        while (i < middle && j < to) {
            if (v[j] < v[i]) {
                count += middle - i;
                buffer[k++] = v[j++];
            } else {
                buffer[k++] = v[i++];
            }
        }
        while (i < middle) {
            buffer[k++] = v[i++];
        }
        while (j < to) {
            buffer[k++] = v[j++];
        }
        System.arraycopy(buffer, from, v, from, to - from);
        return count;
    }
}
