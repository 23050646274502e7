package io.attributionatlas.attribution;

import java.util.Map;

/**
 * What the corpus statistics need of one target's attention conductance, per layer and head, reduced on the
 * model's device by {@link HeadReductions}: a few dozen numbers per head in place of the [L][H][S][S] matrices.
 *
 * @param categories {@code cond_<category>} (signed) and {@code cond_abs_<category>} → [layer][head]
 * @param moments [layer][head][5] over the sample's n² pairs: mean attention, mean conductance, Σ(a − ā)²,
 *     Σ(c − c̄)², Σ(a − ā)(c − c̄); the attention is the one at the input (the sweep's α = 1 row)
 * @param pairs [layer][head][k]: i · n + j of the pairs with the largest |conductance|, largest first
 *     (k = min({@link HeadReductions#RELATION_PAIRS}, n²))
 * @param pairValues their conductance, [layer][head][k]
 */
public record HeadConductance(Map<String, float[][]> categories, float[][][] moments, int[][][] pairs,
        float[][][] pairValues) {

    /** The head's conductance summed over all pairs: its share of F(x) − F(x′). */
    public double mass(int layer, int head, int n) {
        return (double) moments[layer][head][1] * n * n;
    }
}
