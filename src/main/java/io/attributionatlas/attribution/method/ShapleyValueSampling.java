package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PerturbationBatch;
import io.attributionatlas.attribution.PerturbationPlan;
import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * Captum's {@code ShapleyValueSampling} with one feature per word ({@code captum/attr/_core/shapley_value.py}): for
 * each of {@code n_samples} random permutations of the M words, the words are switched from the baseline to the
 * input one at a time in that order, and each word is credited with the change of F its switch makes; a word's
 * score is the mean of its credits over the permutations. Every permutation's credits add up to F(x) − F(baseline),
 * so the scores do too (efficiency), exactly up to rounding. The all-baseline copy is evaluated once for all
 * permutations and the all-input end of each is F(x) itself (Captum evaluates both every time, to the same values):
 * 1 + n_samples · (M − 1) forward passes beside F(x). Seeded: Java's generator, not torch's, so the permutations
 * are Captum's in distribution, not value by value.
 */
public final class ShapleyValueSampling extends NamedMethod {

    public static final String NAME = "shapley_value_sampling";

    /** Captum's default n_samples (permutations) for ShapleyValueSampling. */
    public static final int DEFAULT_SAMPLES = 25;

    public ShapleyValueSampling() {
        super(NAME, "Captum ShapleyValueSampling over words: mean marginal contributions over seeded permutations", Passes.PERTURBATION);
    }

    @Override
    public PerturbationPlan<MethodScores> plan(EncodedText text, MethodContext context) {
        return plan(text, context.samples(DEFAULT_SAMPLES), context.seed());
    }

    public static PerturbationPlan<MethodScores> plan(EncodedText text, int permutations, long seed) {
        int m = MethodScores.wordCount(text.words());
        int[][] orders = permutations(m, Math.max(1, permutations), seed);
        List<boolean[]> off = new ArrayList<>();
        boolean[] none = new boolean[m];
        java.util.Arrays.fill(none, true);
        off.add(none); // copy 0: every word at the baseline
        for (int[] order : orders) {
            boolean[] replaced = none.clone();
            for (int t = 0; t < m - 1; t++) { // after t + 1 switches; the last switch gives the input itself
                replaced[order[t]] = false;
                off.add(replaced.clone());
            }
        }
        List<boolean[]> masks = m == 0 ? List.of() : PerturbationBatch.tokenMasks(text, off);
        return new PerturbationPlan<>(masks, m > 0, (original, f) -> {
            double[] sums = new double[m];
            for (int p = 0; p < orders.length && m > 0; p++) {
                double previous = f[0];
                for (int t = 0; t < m; t++) {
                    double current = t < m - 1 ? f[1 + p * (m - 1) + t] : original;
                    sums[orders[p][t]] += current - previous;
                    previous = current;
                }
            }
            float[] scores = new float[m];
            for (int w = 0; w < m; w++) {
                scores[w] = (float) (sums[w] / orders.length);
            }
            return MethodScores.ofWords(NAME, scores, text.words(),
                    masks.size() + (m > 0 ? 1 : 0), 0);
        });
    }

    /** {@code count} uniformly random permutations of 0 … m − 1 (Fisher–Yates), from {@code seed}. */
    public static int[][] permutations(int m, int count, long seed) {
        Random random = new Random(seed);
        int[][] out = new int[count][m];
        for (int[] order : out) {
            for (int i = 0; i < m; i++) {
                order[i] = i;
            }
            for (int i = m - 1; i > 0; i--) {
                int j = random.nextInt(i + 1);
                int swap = order[i];
                order[i] = order[j];
                order[j] = swap;
            }
        }
        return out;
    }
}
