package io.attributionatlas.attribution.method;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Captum's {@code KernelShap} with one feature per word ({@code captum/attr/_core/kernel_shap.py}). Of its
 * {@code n_samples} interpretable samples, the first is the input (every word kept) and the second the baseline
 * (no word kept), each weighing {@value #END_POINT_WEIGHT} (Captum's {@code inf_weight}); every further sample
 * keeps k ∈ [1, M − 1] of the M words, k drawn with probability ∝ (M − 1) / (k (M − k)) (the Shapley kernel, so
 * these samples weigh 1) and the k words uniformly. Absent words take the baseline; scikit-learn's weighted
 * linear regression of F on the samples ({@link SurrogateModel}) gives each word its score, and the two heavy
 * end points make the scores add up to F(x) − F(baseline) (efficiency). With one word only the end points are
 * evaluated and its score is F(x) − F(baseline) exactly (Captum's size distribution is empty there and it raises).
 * Seeded: Java's generator, not torch's, so the draws are Captum's in distribution, not value by value.
 */
public final class KernelShap extends SurrogateModel {

    public static final String NAME = "kernel_shap";

    /** Captum's default n_samples for KernelShap, the two end points included. */
    public static final int DEFAULT_SAMPLES = 25;
    /** Captum's {@code inf_weight}: the kernel weight of the samples keeping every word or none. */
    public static final double END_POINT_WEIGHT = 1_000_000.0;

    public KernelShap() {
        super(NAME, "Captum KernelShap over words", DEFAULT_SAMPLES);
    }

    @Override
    protected SurrogateModel.Samples draw(int words, int samples, long seed) {
        return samples(words, samples, seed);
    }

    /**
     * Captum's samples for M ≥ 1 words: the input, the baseline, then {@code samples} − 2 coalitions (none for
     * one word); fewer than 2 samples keep only the first ones of that order, as Captum's generator does.
     */
    public static SurrogateModel.Samples samples(int m, int samples, long seed) {
        List<boolean[]> kept = new ArrayList<>();
        boolean[] all = new boolean[m];
        Arrays.fill(all, true);
        kept.add(all);
        kept.add(new boolean[m]);
        // Cumulative Shapley kernel over sizes 1 … M − 1 (Captum's probs, with probs[0] = 0).
        double[] cumulative = new double[m - 1];
        double total = 0;
        for (int k = 1; k < m; k++) {
            total += (m - 1.0) / (k * (double) (m - k));
            cumulative[k - 1] = total;
        }
        Random random = new Random(seed);
        int[] order = new int[m];
        for (int s = 2; s < samples && m > 1; s++) {
            double u = random.nextDouble() * total;
            int k = 1;
            while (k < m - 1 && cumulative[k - 1] < u) {
                k++;
            }
            // k words uniformly: the first k of a partial Fisher–Yates shuffle.
            for (int w = 0; w < m; w++) {
                order[w] = w;
            }
            boolean[] z = new boolean[m];
            for (int i = 0; i < k; i++) {
                int j = i + random.nextInt(m - i);
                int chosen = order[j];
                order[j] = order[i];
                order[i] = chosen;
                z[chosen] = true;
            }
            kept.add(z);
        }
        List<boolean[]> used = kept.subList(0, Math.min(kept.size(), Math.max(1, samples)));
        double[] weights = new double[used.size()];
        for (int s = 0; s < weights.length; s++) {
            weights[s] = s < 2 ? END_POINT_WEIGHT : 1.0;
        }
        return new SurrogateModel.Samples(List.copyOf(used), weights);
    }
}
