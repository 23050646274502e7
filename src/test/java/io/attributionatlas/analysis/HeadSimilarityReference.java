package io.attributionatlas.analysis;

/**
 * The first host implementation of the head × head similarity, kept as the tests' reference: for every pair of
 * heads the mean over query rows of the Jensen–Shannon distance, in double precision, straight from the definition.
 * One change: m = (p + q) / 2 is summed in double. The first version summed p + q in float, and for two heads that
 * nearly agree that rounding moved the distance by up to 5e-5 relative (golden ALBERT, heads 0 and 2 of layer 0 on
 * "fine": 0.0194681 against 0.0194689 in double).
 */
public final class HeadSimilarityReference {

    private HeadSimilarityReference() {
    }

    /** Mean JS distance between heads x < y of one sample's attention [L][H][S][S]: [P · P] row-major, x < y filled. */
    public static double[] meanDistances(float[][][][] a) {
        int heads = a[0].length;
        int p = a.length * heads;
        int n = a[0][0].length;
        double[] out = new double[p * p];
        for (int x = 0; x < p; x++) {
            for (int y = x + 1; y < p; y++) {
                float[][] ax = a[x / heads][x % heads];
                float[][] ay = a[y / heads][y % heads];
                double sum = 0;
                for (int i = 0; i < n; i++) {
                    sum += jsDistance(ax[i], ay[i]);
                }
                out[x * p + y] = sum / n;
            }
        }
        return out;
    }

    /** Jensen–Shannon distance (square root of the divergence, log base 2, in [0, 1]). */
    public static double jsDistance(float[] p, float[] q) {
        double d = 0;
        for (int k = 0; k < p.length; k++) {
            double m = 0.5 * ((double) p[k] + q[k]); // the first version added in float: 5e-5 off near 0
            if (p[k] > 0) {
                d += 0.5 * p[k] * Math.log(p[k] / m);
            }
            if (q[k] > 0) {
                d += 0.5 * q[k] * Math.log(q[k] / m);
            }
        }
        return Math.sqrt(Math.max(0, d / Math.log(2)));
    }
}
