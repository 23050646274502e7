package io.attributionatlas.analysis;

import io.attributionatlas.attribution.HeadReductions;
import io.attributionatlas.model.EncodedText;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * The first host implementation of the per-head statistics, kept as the tests' reference for the device reductions
 * ({@link HeadReductions}): loops over one sample's [L][H][n][n] matrices in double precision, straight from the
 * definitions (Clark et al.'s categories, smoothed row entropy, attention vs conductance, top pairs by |c|).
 */
public final class HeadMetricsReference {

    private HeadMetricsReference() {
    }

    /** {@code prefix + category} → [layer][head] for a weight tensor w [L][H][n][n] (of |w| when absolute). */
    public static Map<String, float[][]> categories(String prefix, float[][][][] w, EncodedText e, boolean absolute) {
        Map<String, float[][]> out = new LinkedHashMap<>();
        int layers = w.length;
        int heads = w[0].length;
        int n = e.length();
        List<String> names = HeadReductions.CATEGORIES;
        float[][][] values = new float[names.size()][layers][heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                double[] sums = new double[names.size()];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        double v = absolute ? Math.abs(w[l][h][i][j]) : w[l][h][i][j];
                        if (j == i) {
                            sums[0] += v;
                        }
                        if (j == i + 1) {
                            sums[1] += v;
                        }
                        if (j == i - 1) {
                            sums[2] += v;
                        }
                        if (e.special()[j] && j == 0) {
                            sums[3] += v;
                        } else if (e.special()[j]) {
                            sums[4] += v;
                        }
                        if (io.attributionatlas.model.EncoderFamilies.of("bert").isPunctuation(e.tokens()[j])) {
                            sums[5] += v;
                        }
                    }
                }
                for (int c = 0; c < sums.length; c++) {
                    values[c][l][h] = (float) (sums[c] / n);
                }
            }
        }
        for (int c = 0; c < names.size(); c++) {
            out.put(prefix + names.get(c), values[c]);
        }
        return out;
    }

    /** entropy (mean over queries of −Σ A′ log A′, A′ = 0.9999 A + 0.0001/n) and cls_entropy → [layer][head]. */
    public static Map<String, float[][]> entropies(float[][][][] a) {
        int layers = a.length;
        int heads = a[0].length;
        float[][] entropy = new float[layers][heads];
        float[][] clsEntropy = new float[layers][heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                int n = a[l][h].length;
                double total = 0;
                for (int i = 0; i < n; i++) {
                    double row = 0;
                    for (float v : a[l][h][i]) {
                        double p = 0.9999 * v + 0.0001 / n;
                        row -= p * Math.log(p);
                    }
                    total += row;
                    if (i == 0) {
                        clsEntropy[l][h] = (float) row;
                    }
                }
                entropy[l][h] = (float) (total / n);
            }
        }
        return Map.of("entropy", entropy, "cls_entropy", clsEntropy);
    }

    /** One head's attention vs conductance over its n² pairs, added pair by pair. */
    public static Correlation correlation(float[][] attention, float[][] conductance) {
        Correlation c = new Correlation();
        int n = attention.length;
        float[] flatA = new float[n * n];
        float[] flatC = new float[n * n];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                c.add(attention[i][j], conductance[i][j]);
                flatA[i * n + j] = attention[i][j];
                flatC[i * n + j] = conductance[i][j];
            }
        }
        c.addSample(Correlation.of(flatA, flatC));
        return c;
    }

    /** The k pairs i · n + j of one head with the largest |conductance|, largest first (ties: smaller index). */
    public static int[] topPairs(float[][] conductance, int k) {
        int n = conductance.length;
        return IntStream.range(0, n * n).boxed()
                .sorted(Comparator.<Integer>comparingDouble(p -> -Math.abs(conductance[p / n][p % n]))
                        .thenComparingInt(p -> p))
                .limit(k).mapToInt(Integer::intValue).toArray();
    }
}
