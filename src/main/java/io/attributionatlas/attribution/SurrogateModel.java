package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.List;
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
     * The plan of a surrogate-model method: F on the copies where the words with {@code kept} false are replaced,
     * weighed and fitted; the words' scores as floats.
     */
    static PerturbationPlan<MethodScores> plan(String name, EncodedText text, List<boolean[]> kept,
            double[] weights) {
        List<boolean[]> off = new java.util.ArrayList<>();
        for (boolean[] z : kept) {
            boolean[] o = new boolean[z.length];
            for (int w = 0; w < z.length; w++) {
                o[w] = !z[w];
            }
            off.add(o);
        }
        List<boolean[]> masks = PerturbationBatch.tokenMasks(text, off);
        return new PerturbationPlan<>(masks, false, (original, y) -> {
            double[] c = fit(kept, y, weights);
            float[] scores = new float[c.length];
            for (int w = 0; w < c.length; w++) {
                scores[w] = (float) c[w];
            }
            return MethodScores.ofWords(name, scores, text.words(), masks.size(), 0);
        });
    }
}
