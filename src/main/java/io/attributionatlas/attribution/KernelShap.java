package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
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

    static PerturbationPlan<MethodScores> plan(EncodedText text, int samples, long seed) {
        int[] words = text.words();
        int m = MethodScores.wordCount(words);
        String name = Method.KERNEL_SHAP.cliName();
        if (m <= 1) {
            List<boolean[]> masks = m == 0 ? List.of() : PerturbationBatch.tokenMasks(text, List.of(new boolean[] {true}));
            return new PerturbationPlan<>(masks, m == 1, (original, y) -> MethodScores.ofWords(name,
                    m == 0 ? new float[0] : new float[] {(float) (original - y[0])}, words, masks.size() + m, 0));
        }
        double[] cumulative = new double[m - 1];
        double total = 0;
        for (int k = 1; k < m; k++) {
            total += (m - 1.0) / (k * (double) (m - k));
            cumulative[k - 1] = total;
        }
        Random random = new Random(seed);
        List<boolean[]> kept = new ArrayList<>();
        for (int s = 0; s < samples; s++) {
            double u = random.nextDouble() * total;
            int k = 1;
            while (k < m - 1 && cumulative[k - 1] < u) {
                k++;
            }
            List<Integer> order = new ArrayList<>();
            for (int w = 0; w < m; w++) {
                order.add(w);
            }
            Collections.shuffle(order, random);
            boolean[] z = new boolean[m];
            for (int w : order.subList(0, k)) {
                z[w] = true;
            }
            kept.add(z);
        }
        double[] weights = new double[samples];
        java.util.Arrays.fill(weights, 1.0);
        return SurrogateModel.plan(name, text, kept, weights);
    }
}
