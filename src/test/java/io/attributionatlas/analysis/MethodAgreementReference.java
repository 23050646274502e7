package io.attributionatlas.analysis;

import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The first host implementation of {@link MethodAgreement}, kept as the tests' reference: boxed index sorts per
 * pair and Kendall's τ-b over all O(n²) pairs, straight from the definitions.
 */
final class MethodAgreementReference {

    private MethodAgreementReference() {
    }

    /** Every metric for the pair; correlations are NaN when either side is constant (they are then skipped). */
    static Map<String, Double> compare(double[] a, double[] b) {
        Map<String, Double> out = new LinkedHashMap<>();
        out.put("spearman", pearson(ranks(a), ranks(b)));
        out.put("kendall", kendallTauB(a, b));
        for (int k : new int[] {1, 3, 5}) {
            out.put("top" + k + "_overlap", topOverlap(a, b, k));
        }
        int same = 0;
        for (int i = 0; i < a.length; i++) {
            same += Math.signum(a[i]) == Math.signum(b[i]) ? 1 : 0;
        }
        out.put("sign_agreement", a.length == 0 ? Double.NaN : same / (double) a.length);
        return out;
    }

    static double[] ranks(double[] v) {
        Integer[] order = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble(i -> v[i]));
        double[] r = new double[v.length];
        for (int i = 0; i < order.length; ) {
            int j = i;
            while (j + 1 < order.length && v[order[j + 1]] == v[order[i]]) {
                j++;
            }
            double rank = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) {
                r[order[k]] = rank;
            }
            i = j + 1;
        }
        return r;
    }

    static double pearson(double[] x, double[] y) {
        int n = x.length;
        if (n < 2) {
            return Double.NaN;
        }
        double mx = Arrays.stream(x).average().orElse(0);
        double my = Arrays.stream(y).average().orElse(0);
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

    /** Kendall's τ-b: (concordant − discordant) / √((n0 − ties in a)(n0 − ties in b)). */
    static double kendallTauB(double[] a, double[] b) {
        long concordant = 0;
        long discordant = 0;
        long tiesA = 0;
        long tiesB = 0;
        long pairs = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = i + 1; j < a.length; j++) {
                double da = Math.signum(a[i] - a[j]);
                double db = Math.signum(b[i] - b[j]);
                pairs++;
                if (da == 0) {
                    tiesA++;
                }
                if (db == 0) {
                    tiesB++;
                }
                if (da != 0 && db != 0) {
                    if (da == db) {
                        concordant++;
                    } else {
                        discordant++;
                    }
                }
            }
        }
        double denominator = Math.sqrt((double) (pairs - tiesA) * (pairs - tiesB));
        return denominator == 0 ? Double.NaN : (concordant - discordant) / denominator;
    }

    static double topOverlap(double[] a, double[] b, int k) {
        int kk = Math.min(k, a.length);
        if (kk == 0) {
            return Double.NaN;
        }
        boolean[] inA = top(a, kk);
        boolean[] inB = top(b, kk);
        int both = 0;
        for (int i = 0; i < a.length; i++) {
            both += inA[i] && inB[i] ? 1 : 0;
        }
        return both / (double) kk;
    }

    private static boolean[] top(double[] v, int k) {
        Integer[] order = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> -Math.abs(v[i])).thenComparing(i -> i));
        boolean[] in = new boolean[v.length];
        for (int i = 0; i < k; i++) {
            in[order[i]] = true;
        }
        return in;
    }
}
