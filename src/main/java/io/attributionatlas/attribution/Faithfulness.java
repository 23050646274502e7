package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;

/**
 * ERASER's faithfulness of one attribution (DeYoung et al. 2020), for one target: the rationale r_k is the top
 * k of the sample's content tokens by score (k = 10, 20, 50%, at least one token); comprehensiveness is
 * p(y|x) − p(y|x without r_k) and sufficiency p(y|x) − p(y|r_k alone), tokens removed by replacing them with the
 * baseline, p the target's probability (softmax over classes, or over positions for QA). Higher
 * comprehensiveness and lower sufficiency mean a more faithful explanation. AOPC is their mean over the k grid.
 * A random ranking (seeded) gives the chance level. Six forward passes per ranking.
 */
public final class Faithfulness {

    /** The fractions of content tokens removed. */
    public static final double[] FRACTIONS = {0.1, 0.2, 0.5};
    /** The name of the random-order baseline among the methods. */
    public static final String RANDOM = "random";

    private Faithfulness() {
    }

    /**
     * [comprehensiveness at each fraction..., sufficiency at each fraction...] of a ranking by {@code scores}; F
     * is to be the target's probability.
     */
    static PerturbationPlan<double[]> plan(EncodedText text, float[] scores) {
        boolean[] special = text.special();
        Integer[] content = IntStream.range(0, special.length).filter(i -> !special[i]).boxed().toArray(Integer[]::new);
        Arrays.sort(content, Comparator.comparingDouble((Integer i) -> -scores[i]).thenComparing(i -> i));
        List<boolean[]> masks = new ArrayList<>();
        for (boolean keepRationale : new boolean[] {false, true}) {
            for (double f : FRACTIONS) {
                int k = Math.max(1, (int) Math.ceil(f * content.length));
                boolean[] mask = new boolean[special.length];
                for (int r = 0; r < content.length; r++) {
                    mask[content[r]] = (r < k) != keepRationale; // comprehensiveness removes r_k, sufficiency the rest
                }
                masks.add(mask);
            }
        }
        return new PerturbationPlan<>(content.length == 0 ? List.of() : masks, content.length > 0, (original, p) -> {
            double[] out = new double[2 * FRACTIONS.length];
            for (int m = 0; m < p.length; m++) {
                out[m] = original - p[m];
            }
            return out;
        });
    }

    /** Scores that rank the content tokens in a seeded random order. */
    static float[] randomScores(int length, long seed) {
        Random random = new Random(seed);
        float[] scores = new float[length];
        for (int i = 0; i < length; i++) {
            scores[i] = random.nextFloat();
        }
        return scores;
    }

    /** Mean over the k grid: of comprehensiveness (part 0) or sufficiency (part 1). */
    public static double aopc(double[] values, int part) {
        double sum = 0;
        for (int i = 0; i < FRACTIONS.length; i++) {
            sum += values[part * FRACTIONS.length + i];
        }
        return sum / FRACTIONS.length;
    }
}
