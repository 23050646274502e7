package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PathGradients;
import io.attributionatlas.attribution.Tensors;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import java.util.List;

/** Hao et al. 2021: integrated gradients over each layer's attention probabilities, with per-head importance. */
public final class AttentionAttribution extends NamedMethod {

    public static final String NAME = "attention_attribution";
    /** Hao et al.'s m: Riemann steps scaling each layer's attention from 0 to A. */
    public static final int ATTENTION_STEPS = 20;

    /** Per-token and per-word scores, per-head importance [L][H] and the per-head matrices [L][H][S][S]. */
    public AttentionAttribution() {
        super(NAME, "Hao et al. 2021: integrated gradients over each layer's attention probabilities", Passes.GRADIENT);
    }

    @Override
    public List<String> outputs() {
        return List.of("token_scores", "word_scores", "head_scores", "matrices");
    }

    /**
     * Attention attribution: for each layer l, integrated gradients over its attention probabilities from 0 to
     * A_l (the other layers as they are): Attr_l = A_l ⊙ (1/m) Σ_k ∂F(k/m · A_l)/∂A, [heads, query, key]. A head's
     * importance is its largest entry (Hao et al.); a token's score is what flows to it as a key, summed over
     * layers, heads and queries. m = {@value #ATTENTION_STEPS}: L·m forward and backward rows.
     */
    @Override
    public MethodScores attribute(PathGradients gradients, long[] baselineIds, MethodContext context) {
        int n = gradients.text().length();
        int layers = gradients.model().config().numLayers();
        int heads = gradients.model().config().numHeads();
        float[][][][] matrices = new float[layers][][][];
        float[][] importance = new float[layers][heads];
        float[] tokens = new float[n];
        try (NDManager scope = gradients.model().manager().newSubManager()) {
            ForwardResult clean = gradients.model().forward(gradients.batch(1), ForwardOptions.predictOnly().keepAttentions(), scope);
            for (int l = 0; l < layers; l++) {
                int layer = l;
                NDArray attention = clean.attentions().get(l); // [1, H, n, n]
                NDArray gradientSum = null;
                for (int start = 0; start < ATTENTION_STEPS; start += gradients.rowsPerPass()) {
                    int rows = Math.min(gradients.rowsPerPass(), ATTENTION_STEPS - start);
                    float[] scale = new float[rows];
                    for (int r = 0; r < rows; r++) {
                        scale[r] = (start + r + 1) / (float) ATTENTION_STEPS - 1; // α − 1: A + (α − 1)A = αA
                    }
                    try (NDManager pass = scope.newSubManager()) {
                        NDArray delta = attention.mul(pass.create(scale, new Shape(rows, 1, 1, 1)));
                        ForwardResult r = gradients.model().forwardAndBackward(gradients.batch(rows),
                                ForwardOptions.predictOnly().perturb(ForwardOptions.Site.ATTENTION, layer, delta)
                                .tapAttentions(x -> x == layer), pass, gradients::objective);
                        NDArray g = r.attentionTaps().get(layer).getGradient().sum(new int[] {0});
                        g.attach(scope);
                        gradientSum = gradientSum == null ? g : gradientSum.add(g);
                    }
                }
                NDArray attribution = attention.get(0).mul(gradientSum).div(ATTENTION_STEPS); // [H, n, n]
                matrices[l] = Tensors.to3d(attribution);
                for (int h = 0; h < heads; h++) {
                    float max = Float.NEGATIVE_INFINITY;
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            max = Math.max(max, matrices[l][h][i][j]);
                            tokens[j] += matrices[l][h][i][j];
                        }
                    }
                    importance[l][h] = max;
                }
            }
        }
        long passes = (long) layers * ATTENTION_STEPS;
        return new MethodScores(NAME, tokens, MethodScores.wordSums(tokens,
                gradients.text().words()), passes + 1, passes, importance, matrices, null);
    }
}
