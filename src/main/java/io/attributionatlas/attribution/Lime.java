package io.attributionatlas.attribution;

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

    static MethodScores attribute(PerturbationEngine e, int samples) {
        int[] words = e.text().words();
        int m = MethodScores.wordCount(words);
        float[] scores = new float[m];
        if (m > 0) {
            scores = SurrogateModel.explain(e, m, samples, new Random(e.seed()), random -> {
                boolean[] z = new boolean[m];
                for (int w = 0; w < m; w++) {
                    z[w] = random.nextBoolean();
                }
                return z;
            }, z -> {
                int kept = 0;
                for (boolean b : z) {
                    kept += b ? 1 : 0;
                }
                double distance = kept == 0 ? 1 : 1 - Math.sqrt(kept / (double) m);
                return Math.exp(-distance * distance / (2 * KERNEL_WIDTH * KERNEL_WIDTH));
            });
        }
        return MethodScores.ofWords(Method.LIME.cliName(), scores, words, e.forwardPasses(), 0);
    }
}
