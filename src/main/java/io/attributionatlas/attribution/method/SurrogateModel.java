package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PerturbationBatch;
import io.attributionatlas.attribution.PerturbationPlan;
import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.IntFunction;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.SingularValueDecomposition;

/**
 * The interpretable linear model of KernelSHAP and LIME: F over binary word masks z (1 = the word kept, 0 =
 * replaced by the baseline) fitted as b + Σ c_i z_i, the coefficients c being the words' scores. The fit is
 * scikit-learn's {@code LinearRegression().fit(z, y, sample_weight=w)}, which Captum's {@code KernelShap} uses
 * (and its {@code Lime} with {@code SkLearnLinearRegression}): z and y centred at their weighted means, rows
 * scaled by √w, then the minimum-norm least-squares solution (scipy's {@code lstsq}, LAPACK gelsd; here Apache
 * Commons Math's singular value decomposition); the intercept is ȳ − z̄·c. When there are no more samples than
 * words, the minimum norm is that of c alone, not of (b, c). A surrogate method says how it draws its samples
 * ({@link #draw}); the plan, the fit and the scores are shared.
 */
public abstract class SurrogateModel extends NamedMethod {

    /** The interpretable samples of one fit, in Captum's order, and their kernel weights. */
    public record Samples(List<boolean[]> kept, double[] weights) {
    }

    private final int defaultSamples;

    protected SurrogateModel(String name, String summary, int defaultSamples) {
        super(name, summary, Passes.PERTURBATION);
        this.defaultSamples = defaultSamples;
    }

    /** The method's interpretable samples for M ≥ 1 words: {@code samples} of them, seeded. */
    protected abstract Samples draw(int words, int samples, long seed);

    @Override
    public final PerturbationPlan<MethodScores> plan(EncodedText text, MethodContext context) {
        int samples = context.samples(defaultSamples);
        return plan(name(), text, m -> draw(m, samples, context.seed()));
    }

    /** Coefficients c (without the intercept) of the weighted least-squares fit of y ≈ b + z·c. */
    public static double[] fit(List<boolean[]> z, double[] y, double[] weights) {
        int n = z.size();
        int m = z.get(0).length;
        double totalWeight = 0;
        double yMean = 0;
        double[] zMean = new double[m];
        for (int i = 0; i < n; i++) {
            totalWeight += weights[i];
            yMean += weights[i] * y[i];
            for (int j = 0; j < m; j++) {
                zMean[j] += z.get(i)[j] ? weights[i] : 0;
            }
        }
        yMean /= totalWeight;
        for (int j = 0; j < m; j++) {
            zMean[j] /= totalWeight;
        }
        RealMatrix x = new Array2DRowRealMatrix(n, m);
        double[] target = new double[n];
        for (int i = 0; i < n; i++) {
            double s = Math.sqrt(weights[i]);
            for (int j = 0; j < m; j++) {
                x.setEntry(i, j, s * ((z.get(i)[j] ? 1 : 0) - zMean[j]));
            }
            target[i] = s * (y[i] - yMean);
        }
        return new SingularValueDecomposition(x).getSolver().solve(new ArrayRealVector(target, false)).toArray();
    }

    /**
     * The plan of a surrogate-model method: F on the copies where the words with {@code kept} false are replaced,
     * weighed and fitted; the words' scores as floats. A sample that keeps every word is the input itself: it
     * reads F(x) (computed once per target for all methods) instead of a pass of its own. {@code draw} gives the
     * samples for M ≥ 1 words; without words there is nothing to fit.
     */
    public static PerturbationPlan<MethodScores> plan(String name, EncodedText text, IntFunction<Samples> draw) {
        int words = MethodScores.wordCount(text.words());
        if (words == 0) {
            return new PerturbationPlan<>(List.of(), false, (original, y) -> MethodScores.ofWords(name, new float[0],
                    text.words(), 0, 0));
        }
        Samples samples = draw.apply(words);
        List<boolean[]> kept = samples.kept();
        int[] row = new int[kept.size()]; // the copy evaluating sample s, or -1 for the input itself
        List<boolean[]> off = new ArrayList<>();
        for (int s = 0; s < kept.size(); s++) {
            boolean[] z = kept.get(s);
            boolean[] o = new boolean[z.length];
            boolean any = false;
            for (int w = 0; w < z.length; w++) {
                o[w] = !z[w];
                any |= o[w];
            }
            row[s] = any ? off.size() : -1;
            if (any) {
                off.add(o);
            }
        }
        List<boolean[]> masks = PerturbationBatch.tokenMasks(text, off);
        boolean usesOriginal = Arrays.stream(row).anyMatch(r -> r < 0);
        long passes = masks.size() + (usesOriginal ? 1 : 0);
        return new PerturbationPlan<>(masks, usesOriginal, (original, outputs) -> {
            double[] y = new double[row.length];
            for (int s = 0; s < row.length; s++) {
                y[s] = row[s] < 0 ? original : outputs[row[s]];
            }
            double[] c = fit(kept, y, samples.weights());
            float[] scores = new float[c.length];
            for (int w = 0; w < c.length; w++) {
                scores[w] = (float) c[w];
            }
            return MethodScores.ofWords(name, scores, text.words(), passes, 0);
        });
    }
}
