package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.TransformerModel;
import java.util.Collections;
import java.util.Random;

/**
 * The gradient methods with passes of their own (not on the shared sweep), each over rows of one sample and one
 * target: GradientSHAP (Captum's {@code GradientShap}) and attention attribution (Hao et al. 2021). Rows per
 * pass follow the memory budget.
 */
final class PathGradients {

    /** Captum's default n_samples for GradientShap. */
    static final int GRADIENT_SHAP_SAMPLES = 5;
    /** Hao et al.'s m: Riemann steps scaling each layer's attention from 0 to A. */
    static final int ATTENTION_STEPS = 20;

    private final TransformerModel model;
    private final AttributionOptions options;
    private final EncodedText text;
    private final TargetAttribution target;
    private final long padId;
    private final int rowsPerPass;

    PathGradients(TransformerModel model, AttributionOptions options, EncodedText text, TargetAttribution target,
            long padId, int rowsPerPass) {
        this.model = model;
        this.options = options;
        this.text = text;
        this.target = target;
        this.padId = padId;
        this.rowsPerPass = Math.max(1, rowsPerPass);
    }

    /**
     * GradientSHAP at the embedding output: for each of {@code samples} draws, noise ε ~ N(0, σ²) on the input
     * and α ~ U(0, 1), the gradient at x' + α(x + ε − x') times (x + ε − x'), summed over hidden; the mean over
     * draws. The baseline distribution is the one baseline (Captum draws from the baselines it is given): the
     * embedding output of the baseline ids, or zeros for the zero baseline. Seeded.
     */
    MethodScores gradientShap(long[] baselineIds, int samples, double stdev, long seed) {
        int n = text.length();
        float[] sum = new float[n];
        Random random = new Random(seed);
        try (NDManager scope = model.manager().newSubManager()) {
            NDArray types = scope.create(text.typeIds(), new Shape(1, n));
            NDArray input = model.embed(scope.create(text.ids(), new Shape(1, n)), types, scope);
            NDArray baseline = options.baseline().isZeroEmbedding() ? input.zerosLike()
                    : model.embed(scope.create(baselineIds, new Shape(1, n)), types, scope);
            long width = input.getShape().get(2);
            for (int start = 0; start < samples; start += rowsPerPass) {
                int rows = Math.min(rowsPerPass, samples - start);
                float[] noise = new float[(int) (rows * n * width)];
                float[] alphas = new float[rows];
                for (int r = 0; r < rows; r++) {
                    alphas[r] = random.nextFloat();
                    for (int k = 0; k < n * width; k++) {
                        noise[(int) (r * n * width + k)] = (float) (random.nextGaussian() * stdev);
                    }
                }
                try (NDManager pass = scope.newSubManager()) {
                    NDArray noisy = input.add(pass.create(noise, new Shape(rows, n, width)));
                    NDArray difference = noisy.sub(baseline);
                    NDArray points = baseline.add(difference.mul(pass.create(alphas, new Shape(rows, 1, 1))));
                    ForwardResult r = model.forwardAndBackward(batch(rows), ForwardOptions.predictOnly()
                            .startFrom(points).tapEmbedding(), pass, this::objective);
                    float[] contributions = r.embeddingTap().getGradient().mul(difference).sum(new int[] {-1})
                            .sum(new int[] {0}).toFloatArray();
                    for (int i = 0; i < n; i++) {
                        sum[i] += contributions[i] / samples;
                    }
                }
            }
        }
        return MethodScores.ofTokens(Method.GRADIENT_SHAP.cliName(), sum, text.words(), samples, samples);
    }

    /**
     * Attention attribution: for each layer l, integrated gradients over its attention probabilities from 0 to
     * A_l (the other layers as they are): Attr_l = A_l ⊙ (1/m) Σ_k ∂F(k/m · A_l)/∂A, [heads, query, key]. A head's
     * importance is its largest entry (Hao et al.); a token's score is what flows to it as a key, summed over
     * layers, heads and queries. m = {@value #ATTENTION_STEPS}: L·m forward and backward rows.
     */
    MethodScores attentionAttribution() {
        int n = text.length();
        int layers = model.config().numLayers();
        int heads = model.config().numHeads();
        float[][][][] matrices = new float[layers][][][];
        float[][] importance = new float[layers][heads];
        float[] tokens = new float[n];
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult clean = model.forward(batch(1), ForwardOptions.predictOnly().keepAttentions(), scope);
            for (int l = 0; l < layers; l++) {
                int layer = l;
                NDArray attention = clean.attentions().get(l); // [1, H, n, n]
                NDArray gradientSum = null;
                for (int start = 0; start < ATTENTION_STEPS; start += rowsPerPass) {
                    int rows = Math.min(rowsPerPass, ATTENTION_STEPS - start);
                    float[] scale = new float[rows];
                    for (int r = 0; r < rows; r++) {
                        scale[r] = (start + r + 1) / (float) ATTENTION_STEPS - 1; // α − 1: A + (α − 1)A = αA
                    }
                    try (NDManager pass = scope.newSubManager()) {
                        NDArray delta = attention.mul(pass.create(scale, new Shape(rows, 1, 1, 1)));
                        ForwardResult r = model.forwardAndBackward(batch(rows), ForwardOptions.predictOnly()
                                .perturb(io.attributionatlas.model.ForwardOptions.Site.ATTENTION, layer, delta)
                                .tapAttentions(x -> x == layer), pass, this::objective);
                        NDArray g = r.attentionTaps().get(layer).getGradient().sum(new int[] {0});
                        g.attach(scope);
                        gradientSum = gradientSum == null ? g : gradientSum.add(g);
                    }
                }
                NDArray attribution = attention.get(0).mul(gradientSum).div(ATTENTION_STEPS); // [H, n, n]
                matrices[l] = io.attributionatlas.attribution.Tensors.to3d(attribution);
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
        return new MethodScores(Method.ATTENTION_ATTRIBUTION.cliName(), tokens, MethodScores.wordSums(tokens,
                text.words()), passes + 1, passes, importance, matrices);
    }

    private EncodedBatch batch(int rows) {
        return EncodedBatch.pad(Collections.nCopies(rows, text.ids()), Collections.nCopies(rows, text.typeIds()),
                padId);
    }

    /** Σ over rows of the target's output, as the sweep defines it (one sample: no padding). */
    private NDArray objective(ForwardResult r) {
        boolean probability = options.output() == Output.PROBABILITY;
        if (target.name().equals("class")) {
            NDArray logits = probability ? r.logits().softmax(-1) : r.logits();
            return logits.get(":, " + target.index()).sum();
        }
        NDArray positions = target.name().equals("start") ? r.startLogits() : r.endLogits();
        NDArray values = probability ? positions.softmax(-1) : positions;
        if (options.qaReduction() == QaReduction.MAX) {
            return values.max(new int[] {-1}).sum();
        }
        return values.get(":, " + target.index()).sum();
    }
}
