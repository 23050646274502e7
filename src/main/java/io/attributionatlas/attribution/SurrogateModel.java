package io.attributionatlas.attribution;

import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * The interpretable linear model of KernelSHAP and LIME: F over binary word masks z (1 = the word kept, 0 =
 * replaced by the baseline) fitted as b + Σ c_i z_i by weighted least squares, solved with Apache Commons Math's
 * singular value decomposition (the minimum-norm solution when there are fewer samples than words, as
 * scikit-learn's LinearRegression, which Captum's KernelShap uses). The coefficients c are the words' scores.
 */
final class SurrogateModel {

    private SurrogateModel() {
    }

    /** Coefficients c (without the intercept) of the weighted least-squares fit of y ≈ b + z·c. */
    static double[] fit(List<boolean[]> z, double[] y, double[] weights) {
        int n = z.size();
        int m = z.get(0).length;
        RealMatrix x = new Array2DRowRealMatrix(n, m + 1);
        RealVector target = new ArrayRealVector(n);
        for (int i = 0; i < n; i++) {
            double s = Math.sqrt(weights[i]);
            x.setEntry(i, 0, s);
            for (int j = 0; j < m; j++) {
                x.setEntry(i, j + 1, z.get(i)[j] ? s : 0);
            }
            target.setEntry(i, s * y[i]);
        }
        double[] solution = new SingularValueDecomposition(x).getSolver().solve(target).toArray();
        return java.util.Arrays.copyOfRange(solution, 1, m + 1);
    }

    /**
     * Samples {@code samples} masks with {@code draw}, evaluates F on each (a word is replaced where its mask is
     * false), weighs them with {@code weight} and fits; the words' scores as floats.
     */
    static float[] explain(PerturbationEngine e, int words, int samples, Random random,
            Function<Random, boolean[]> draw, Function<boolean[], Double> weight) {
        List<boolean[]> kept = new java.util.ArrayList<>();
        List<boolean[]> off = new java.util.ArrayList<>();
        for (int s = 0; s < samples; s++) {
            boolean[] z = draw.apply(random);
            kept.add(z);
            boolean[] o = new boolean[words];
            for (int w = 0; w < words; w++) {
                o[w] = !z[w];
            }
            off.add(o);
        }
        double[] y = e.evaluateWords(off);
        double[] weights = new double[samples];
        for (int s = 0; s < samples; s++) {
            weights[s] = weight.apply(kept.get(s));
        }
        double[] c = fit(kept, y, weights);
        float[] out = new float[words];
        for (int w = 0; w < words; w++) {
            out[w] = (float) c[w];
        }
        return out;
    }
}
