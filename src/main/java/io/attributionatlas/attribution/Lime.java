package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Captum's {@code Lime} over words: each word kept with probability ½ (its default perturbation), samples
 * weighted by the exponential kernel exp(−d² / (2 w²)) of their cosine distance d to the input in the
 * interpretable space (width w = 1, Captum's default), and a weighted linear model fitted to F. Captum's default
 * surrogate is a Lasso (α = 0.01); this fits weighted least squares (Captum's SkLearnLinearRegression option),
 * so scores are not shrunk toward zero. Seeded; {@code samples} forward passes.
 */
final class Lime {

    /** Captum's default n_samples for Lime. */
    static final int DEFAULT_SAMPLES = 50;
    private static final double KERNEL_WIDTH = 1.0;

    private Lime() {
    }

    static PerturbationPlan<MethodScores> plan(EncodedText text, int samples, long seed) {
        int m = MethodScores.wordCount(text.words());
        if (m == 0) {
            return new PerturbationPlan<>(List.of(), false, (original, y) -> MethodScores.ofWords(
                    Method.LIME.cliName(), new float[0], text.words(), 0, 0));
        }
        Random random = new Random(seed);
        List<boolean[]> kept = new ArrayList<>();
        double[] weights = new double[samples];
        for (int s = 0; s < samples; s++) {
            boolean[] z = new boolean[m];
            int count = 0;
            for (int w = 0; w < m; w++) {
                z[w] = random.nextBoolean();
                count += z[w] ? 1 : 0;
            }
            kept.add(z);
            double distance = count == 0 ? 1 : 1 - Math.sqrt(count / (double) m);
            weights[s] = Math.exp(-distance * distance / (2 * KERNEL_WIDTH * KERNEL_WIDTH));
        }
        return SurrogateModel.plan(Method.LIME.cliName(), text, kept, weights);
    }
}
