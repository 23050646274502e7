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
import io.attributionatlas.model.Scalars;
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
    /** Captum's default nt_samples for NoiseTunnel. */
    static final int NOISE_TUNNEL_SAMPLES = 5;
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
     * Captum's {@code NoiseTunnel} around a gradient method at the embedding output: for each of {@code samples} draws
     * of noise ε ~ N(0, σ²) on the input, the wrapped method's attribution of x + ε per position and hidden unit —
     * saliency |∂F/∂e|, input × gradient ∂F/∂e · (x + ε), or integrated gradients from the baseline to x + ε on the
     * configured points — then, per element, their mean (smoothgrad), the mean of their squares (smoothgrad_sq) or
     * their variance E[a²] − E[a]² (vargrad), as Captum aggregates its attribution tensor; summed over hidden
     * afterwards, as the token scores of every method are. Seeded.
     */
    MethodScores noiseTunnel(long[] baselineIds, Method wrapped, AttributionOptions.NoiseTunnelType type,
            int samples, double stdev, long seed) {
        int n = text.length();
        boolean integrated = wrapped == Method.INTEGRATED_GRADIENTS;
        SweepPoints sweep = options.sweepPoints();
        java.util.List<double[]> points = new java.util.ArrayList<>(); // {α, weight}
        for (int k = 0; k < sweep.size(); k++) {
            if (!integrated) {
                points.add(new double[] {1, 1});
                break;
            }
            if (sweep.igWeights()[k] != 0) {
                points.add(new double[] {sweep.alphas()[k], sweep.igWeights()[k]});
            }
        }
        Random random = new Random(seed);
        float[] tokens;
        try (NDManager scope = model.manager().newSubManager()) {
            NDArray types = scope.create(text.typeIds(), new Shape(1, n));
            NDArray input = model.embed(scope.create(text.ids(), new Shape(1, n)), types, scope)
                    .toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            NDArray baseline = options.baseline().isZeroEmbedding() ? input.zerosLike()
                    : model.embed(scope.create(baselineIds, new Shape(1, n)), types, scope)
                            .toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
            long width = input.getShape().get(2);
            NDArray sum = input.get(0).zerosLike().toType(ai.djl.ndarray.types.DataType.FLOAT64, false);
            NDArray squares = sum.duplicate();
            for (int draw = 0; draw < samples; draw++) {
                float[] noise = new float[(int) (n * width)];
                for (int k = 0; k < noise.length; k++) {
                    noise[k] = (float) (random.nextGaussian() * stdev);
                }
                try (NDManager pass = scope.newSubManager()) {
                    NDArray noisy = input.add(pass.create(noise, new Shape(1, n, width)));
                    NDArray difference = noisy.sub(baseline);
                    NDArray attribution = null; // this draw's [n, hidden]
                    for (int start = 0; start < points.size(); start += rowsPerPass) {
                        int rows = Math.min(rowsPerPass, points.size() - start);
                        float[] alphas = new float[rows];
                        float[] weights = new float[rows];
                        for (int r = 0; r < rows; r++) {
                            alphas[r] = (float) points.get(start + r)[0];
                            weights[r] = (float) points.get(start + r)[1];
                        }
                        NDArray at = integrated ? baseline.add(difference.mul(pass.create(alphas,
                                new Shape(rows, 1, 1)))) : noisy;
                        ForwardResult r = model.forwardAndBackward(batch(rows), ForwardOptions.predictOnly()
                                .startFrom(at).tapEmbedding(), pass, this::objective);
                        NDArray g = r.embeddingTap().getGradient().toType(ai.djl.ndarray.types.DataType.FLOAT32,
                                false);
                        NDArray part = switch (wrapped) {
                            case SALIENCY -> g.abs();
                            case INPUT_X_GRADIENT -> g.mul(noisy);
                            default -> g.mul(pass.create(weights, new Shape(rows, 1, 1))).mul(difference);
                        };
                        part = part.sum(new int[] {0});
                        attribution = attribution == null ? part : attribution.add(part);
                    }
                    NDArray a = attribution.toType(ai.djl.ndarray.types.DataType.FLOAT64, false);
                    sum.addi(a);
                    squares.addi(a.mul(a));
                }
            }
            NDArray mean = sum.div(Scalars.of(sum, (float) samples));
            NDArray meanSquare = squares.div(Scalars.of(squares, (float) samples));
            NDArray aggregated = switch (type) {
                case SMOOTHGRAD -> mean;
                case SMOOTHGRAD_SQ -> meanSquare;
                case VARGRAD -> meanSquare.sub(mean.mul(mean));
            };
            tokens = aggregated.sum(new int[] {-1}).toType(ai.djl.ndarray.types.DataType.FLOAT32, false)
                    .toFloatArray();
        }
        long passes = (long) samples * points.size();
        return MethodScores.ofTokens(Method.NOISE_TUNNEL.cliName(), tokens, text.words(), passes, passes);
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
