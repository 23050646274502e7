package io.attributionatlas.attribution;

import java.util.Random;

/**
 * Captum's {@code KernelShap} over words: coalitions are drawn by first drawing their size k ∈ [1, M−1] with
 * probability ∝ (M − 1) / (k (M − k)) (the Shapley kernel, so every sample then weighs 1) and then k words
 * uniformly; absent words take the baseline; a linear model fitted to F over the coalitions gives each word
 * its score. With one word, its score is exact: F(x) − F(baseline). Seeded; {@code samples} forward passes.
 */
final class KernelShap {

    /** Captum's default n_samples for KernelShap. */
    static final int DEFAULT_SAMPLES = 25;

    private KernelShap() {
    }

    static MethodScores attribute(PerturbationEngine e, int samples) {
        int[] words = e.text().words();
        int m = MethodScores.wordCount(words);
        float[] scores = new float[m];
        if (m == 1) {
            scores[0] = (float) (e.original() - e.evaluateWords(java.util.List.of(new boolean[] {true}))[0]);
        } else if (m > 1) {
            double[] cumulative = new double[m - 1];
            double total = 0;
            for (int k = 1; k < m; k++) {
                total += (m - 1.0) / (k * (double) (m - k));
                cumulative[k - 1] = total;
            }
            double sum = total;
            scores = SurrogateModel.explain(e, m, samples, new Random(e.seed()), random -> {
                double u = random.nextDouble() * sum;
                int k = 1;
                while (k < m - 1 && cumulative[k - 1] < u) {
                    k++;
                }
                boolean[] z = new boolean[m];
                java.util.List<Integer> order = new java.util.ArrayList<>();
                for (int w = 0; w < m; w++) {
                    order.add(w);
                }
                java.util.Collections.shuffle(order, random);
                for (int w : order.subList(0, k)) {
                    z[w] = true;
                }
                return z;
            }, z -> 1.0);
        }
        return MethodScores.ofWords(Method.KERNEL_SHAP.cliName(), scores, words, e.forwardPasses(), 0);
    }
}
