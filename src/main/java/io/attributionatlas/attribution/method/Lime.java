package io.attributionatlas.attribution.method;

import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Captum's {@code Lime} with one feature per word ({@code captum/attr/_core/lime.py}): each sample keeps every
 * word with probability ½ (its {@code default_perturb_func}); absent words take the baseline; samples weigh
 * exp(−d² / (2 w²)) with w = 1 (its {@code get_exp_kernel_similarity_function} defaults), and a weighted linear
 * model fitted to F gives each word its score. Two departures, on purpose (README, Methods):
 * <ul>
 *   <li>d is the cosine distance of the sample to the input in the interpretable space, 1 − √(kept / M), as
 *   LIME defines it for text (Ribeiro et al. 2016); Captum's default measures it between the flattened model
 *   inputs, which for token ids would weigh a sample by the ids' numeric values;</li>
 *   <li>the fit is weighted least squares (Captum's {@code SkLearnLinearRegression} option, as KernelSHAP), not
 *   its default {@code SkLearnLasso(alpha=0.01)}, so scores are not shrunk toward zero.</li>
 * </ul>
 * Seeded: Java's generator, not torch's. {@code samples} forward passes at most (a sample keeping every word
 * reads F(x)).
 */
public final class Lime extends SurrogateModel {

    public static final String NAME = "lime";

    /** Captum's default n_samples for {@code Lime.attribute} (its docstring says 50; its signature, 25). */
    public static final int DEFAULT_SAMPLES = 25;
    private static final double KERNEL_WIDTH = 1.0;

    public Lime() {
        super(NAME, "Captum Lime over words (cosine distance, weighted least squares)", DEFAULT_SAMPLES);
    }

    @Override
    protected SurrogateModel.Samples draw(int words, int samples, long seed) {
        return samples(words, samples, seed);
    }

    /** {@code samples} Bernoulli(½) word masks over M words, with their kernel weights. */
    public static SurrogateModel.Samples samples(int m, int samples, long seed) {
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
            // The cosine similarity of z to the all-ones input is √(count / M); 0 for the empty sample.
            double distance = 1 - Math.sqrt(count / (double) m);
            weights[s] = Math.exp(-distance * distance / (2 * KERNEL_WIDTH * KERNEL_WIDTH));
        }
        return new SurrogateModel.Samples(kept, weights);
    }
}
