package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TransformerModel;
import java.util.List;

/**
 * DecompX (Modarressi et al., ACL 2023): every hidden state is kept as a sum of parts, one per input token plus one
 * for the biases, and the parts are propagated through the whole model: attention (its probabilities as the forward
 * pass computed them), the residuals, both layer norms (linearised at each token's own σ, β to the bias part), the
 * feed-forward block (its activation linearised per neuron as act(u)/u at the token's actual pre-activation u, the
 * biases to the bias part), and the classification head likewise. Token k's score for a target is its part of the
 * target's logit (of the start or end logit at the target position, for QA); the bias part is the rest, so the
 * scores sum to the logit minus the bias part. One forward pass; the parts of samples of similar length are batched as
 * [B, S + 1, S, hidden].
 */
public final class DecompX extends NamedMethod {

    public static final String NAME = "decompx";
    /** Elements of one [B, parts, S, intermediate] chunk of the feed-forward block (64 MB in float32). */
    private static final long FFN_CHUNK_ELEMENTS = 1L << 24;
    /** Tensors of a sample's parts' size, [S + 1, S, hidden], that one layer's propagation holds at once. */
    private static final int PARTS_COPIES = 8;
    /** Below this |u| the activation's slope at u is taken at ±this instead (act(u)/u is 0/0 at 0). */
    private static final float SMALLEST_PREACTIVATION = 1e-6f;

    public DecompX() {
        super(NAME, "Modarressi et al. 2023: token parts propagated through attention, norms, FFN and head (each "
                + "token's part of the target logit)", Passes.FORWARD);
    }

    @Override
    public String refusesModel(ModelConfig config) {
        String refusal = config.family().refusesDecomposition(NAME);
        if (refusal == null && config.task() == Task.SEQUENCE_CLASSIFICATION
                && config.family().classifierActivation(config) == null) {
            return "its classification head is not dense → activation → output on the first token";
        }
        return refusal;
    }

    /** One pass over samples of similar length, within the memory budget (see {@link LayerContributions#inPasses}). */
    @Override
    public List<Decomposition> decompose(TransformerModel model, List<EncodedText> texts, MethodContext context) {
        ModelConfig c = model.config();
        return LayerContributions.inPasses(model, texts, context.options(), s -> new long[] {
            io.attributionatlas.attribution.MemoryBudget.forwardRowBytes(c, s)
                    + 4L * PARTS_COPIES * (s + 1) * s * c.hiddenSize(),
            4L * (s + 1) * s * c.hiddenSize()}, group -> propagate(model, group).stream()
                    .map(r -> (Decomposition) (target, index) -> r.scores(NAME, target, index)).toList());
    }

    /**
     * One sample's decomposition, on the host.
     *
     * @param headParts per part k (the S tokens, then the bias part): its logits [labels], or its start and end
     *     logits at every position [S][2] flattened, for QA
     * @param outputs per part, the width of its {@code headParts} row
     * @param logits the forward pass's logits (or start and end logits, [S][2] flattened)
     * @param layerError over the layers, max |Σ parts − hidden state| / max |hidden state| at the real tokens
     * @param layerMatrices per layer [i][k]: token k's part of token i's hidden state projected on it, part·h_i / ‖h_i‖²
     *     (each row sums to 1 less the bias part's share)
     */
    record Result(float[] headParts, int outputs, float[] logits, double layerError, float[][][] layerMatrices,
            int[] words) {

        /** The tokens' parts of a target as the method's scores. */
        MethodScores scores(String name, String target, int index) {
            float[] scores = new float[words.length];
            for (int k = 0; k < scores.length; k++) {
                scores[k] = targetPart(target, index, k);
            }
            return MethodScores.ofDecomposition(name, scores, words, 1, null, layerMatrices);
        }

        /** Token k's part of a target: a class's logit, or the start or end logit at a position. */
        float targetPart(String target, int index, int k) {
            return switch (target) {
                case "start" -> headParts[k * outputs + 2 * index];
                case "end" -> headParts[k * outputs + 2 * index + 1];
                default -> headParts[k * outputs + index];
            };
        }

        /** The bias part of a target. */
        float biasPart(String target, int index) {
            return targetPart(target, index, headParts.length / outputs - 1);
        }
    }

    /**
     * The decomposition of samples in one padded pass: parts [B, S + 1, S, hidden], part k &lt; S token k's (zero for a
     * padded k), part S the biases'. A padded key gets no attention, so a padded token's part stays zero and a real
     * token's rows never read a padded position.
     */
    static List<Result> propagate(TransformerModel model, List<EncodedText> texts) {
        ModelConfig config = model.config();
        try (NDManager scope = model.manager().newSubManager()) {
            LayerContributions.Internals in = LayerContributions.Internals.of(model, texts, scope);
            NDArray x0 = in.layerInputs().get(0);
            long batch = x0.getShape().get(0);
            int s = (int) x0.getShape().get(1);
            int n = s + 1;
            NDArray mask = in.mask(); // [B, S]
            // part k < S is token k's own embedding; part S, the biases', starts empty
            NDArray tokens = scope.eye(s).concat(scope.zeros(new Shape(1, s)), 0).expandDims(0)
                    .mul(mask.concat(scope.zeros(new Shape(batch, 1)), 1).expandDims(-1)); // [B, N, S]
            NDArray parts = tokens.expandDims(-1).mul(x0.expandDims(1)); // [B, N, S, hidden]
            NDArray biasPart = scope.zeros(new Shape(s)).concat(scope.ones(new Shape(1)), 0); // [N]: 1 at the bias part
            NDArray biasRows = biasPart.reshape(n, 1, 1);
            NDArray realPositions = mask.expandDims(-1); // [B, S, 1]
            double[][] errors = new double[(int) batch][config.numLayers()];
            NDList matrices = new NDList();
            for (int l = 0; l < config.numLayers(); l++) {
                // a layer's temporaries, and the parts it started from, are freed when it ends
                try (NDManager layerScope = scope.newSubManager()) {
                    parts.attach(layerScope);
                    parts = layer(model, l, parts, in.attentions().get(l), biasRows, layerScope);
                    NDArray h = parts.sum(new int[] {1}); // [B, S, hidden]
                    NDArray actual = in.layerOutputs().get(l);
                    float[] worst = largest(h.sub(actual).abs().mul(realPositions)).div(largest(actual.abs()
                            .mul(realPositions))).toFloatArray();
                    for (int b = 0; b < batch; b++) {
                        errors[b][l] = worst[b];
                    }
                    NDArray projected = parts.get(":, :" + s).mul(h.expandDims(1)).sum(new int[] {-1}); // [B, k, i]
                    NDArray matrix = projected.div(h.square().sum(new int[] {-1}).expandDims(1)).transpose(0, 2, 1);
                    matrix.attach(scope);
                    matrices.add(matrix);
                    parts.attach(scope);
                }
            }
            NDArray head;
            NDArray logits;
            if (config.task() == Task.QUESTION_ANSWERING) {
                head = linear(parts, LayerContributions.parameter(model, Role.QA_W, scope),
                        LayerContributions.parameter(model, Role.QA_B, scope), biasRows); // [B, N, S, 2]
                logits = LayerContributions.float32(in.result().startLogits().stack(in.result().endLogits(), 2));
            } else if (config.task() == Task.SEQUENCE_CLASSIFICATION) {
                NDArray biasColumn = biasPart.reshape(n, 1);
                NDArray dense = linear(parts.get(":, :, 0, :"), LayerContributions.parameter(model,
                        Role.CLS_HIDDEN_W, scope), LayerContributions.parameter(model, Role.CLS_HIDDEN_B, scope),
                        biasColumn);
                NDArray activated = dense.mul(slopes(config.family().classifierActivation(config),
                        dense.sum(new int[] {1})).expandDims(1));
                head = linear(activated, LayerContributions.parameter(model, Role.CLS_OUT_W, scope),
                        LayerContributions.parameter(model, Role.CLS_OUT_B, scope), biasColumn); // [B, N, labels]
                logits = LayerContributions.float32(in.result().logits());
            } else {
                throw new IllegalArgumentException("a bare encoder has no logits to decompose");
            }
            NDArray layerMatrices = NDArrays.stack(matrices, 1); // [B, L, S, S]
            List<Result> out = new java.util.ArrayList<>();
            for (int b = 0; b < batch; b++) {
                int length = in.lengths()[b];
                // its own tokens' parts and the bias part; for QA, its own positions
                NDArray own = head.get(b);
                own = own.get(":" + length).concat(own.get(s + ":"), 0);
                NDArray ownLogits = logits.get(b);
                if (config.task() == Task.QUESTION_ANSWERING) {
                    own = own.get(":, :" + length);
                    ownLogits = ownLogits.get(":" + length);
                }
                double error = java.util.Arrays.stream(errors[b]).max().orElse(0);
                out.add(new Result(own.toFloatArray(), (int) (own.size() / (length + 1)), ownLogits.toFloatArray(),
                        error, LayerContributions.toHost(layerMatrices, b, length), texts.get(b).words()));
            }
            return out;
        }
    }

    /** Each sample's largest element of x [B, …]. */
    private static NDArray largest(NDArray x) {
        return x.reshape(x.getShape().get(0), -1).max(new int[] {1});
    }

    /** One post-norm layer on the parts [B, N, S, hidden]: attention, residual, norm, feed-forward, residual, norm. */
    private static NDArray layer(TransformerModel model, int l, NDArray parts, NDArray attention, NDArray biasRows,
            NDManager scope) {
        ModelConfig config = model.config();
        long batch = parts.getShape().get(0);
        long n = parts.getShape().get(1);
        long s = parts.getShape().get(2);
        int d = config.hiddenSize();
        int h = config.numHeads();
        NDArray valueW = LayerContributions.parameter(model, l, LayerRole.VALUE_W, scope);
        NDArray outW = LayerContributions.parameter(model, l, LayerRole.ATTN_OUT_W, scope);
        NDArray values = parts.matMul(valueW.transpose()).reshape(batch, n, s, h, d / h).transpose(0, 1, 3, 2, 4);
        NDArray weights = attention.expandDims(1);
        weights.attach(scope); // a view: its product lives with the layer
        NDArray mixed = weights.matMul(values).transpose(0, 1, 3, 2, 4).reshape(batch, n, s, d);
        // the value bias reaches every token whole (attention rows sum to 1): with the output bias, the bias part's
        NDArray valueB = LayerContributions.parameter(model, l, LayerRole.VALUE_B, scope);
        NDArray outB = LayerContributions.parameter(model, l, LayerRole.ATTN_OUT_B, scope);
        NDArray bias = valueB == null ? null : valueB.reshape(1, d).matMul(outW.transpose()).reshape(d);
        if (outB != null) {
            bias = bias == null ? outB : bias.add(outB);
        }
        NDArray attended = linear(mixed, outW, bias, biasRows);
        NDArray afterAttention = norm(attended.add(parts), LayerContributions.parameter(model, l, LayerRole.ATTN_NORM_W, scope), LayerContributions.parameter(model, l, LayerRole.ATTN_NORM_B, scope), biasRows,
                config.layerNormEps());
        NDArray ffn = feedForward(model, l, afterAttention, biasRows, scope);
        return norm(ffn.add(afterAttention), LayerContributions.parameter(model, l, LayerRole.OUT_NORM_W, scope),
                LayerContributions.parameter(model, l, LayerRole.OUT_NORM_B, scope), biasRows, config.layerNormEps());
    }

    /**
     * The feed-forward block on the parts, its activation linearised per token and neuron at the actual
     * pre-activation u (the parts' sum): each part's pre-activation times act(u)/u. In chunks of parts.
     */
    private static NDArray feedForward(TransformerModel model, int l, NDArray parts, NDArray biasRows,
            NDManager scope) {
        NDArray inW = LayerContributions.parameter(model, l, LayerRole.FFN_IN_W, scope);
        NDArray inB = LayerContributions.parameter(model, l, LayerRole.FFN_IN_B, scope);
        NDArray outW = LayerContributions.parameter(model, l, LayerRole.FFN_OUT_W, scope);
        NDArray outB = LayerContributions.parameter(model, l, LayerRole.FFN_OUT_B, scope);
        NDArray total = parts.sum(new int[] {1}).matMul(inW.transpose());
        NDArray slope = slopes(model.config().activation(), inB == null ? total : total.add(inB)) // [B, S, intermediate]
                .expandDims(1);
        long n = parts.getShape().get(1);
        long perPart = parts.getShape().get(0) * parts.getShape().get(2) * inW.getShape().get(0);
        int chunk = (int) Math.max(1, Math.min(n, FFN_CHUNK_ELEMENTS / perPart));
        NDList out = new NDList();
        for (int from = 0; from < n; from += chunk) {
            String rows = from + ":" + Math.min(n, from + chunk);
            NDArray pre = linear(parts.get(":, " + rows), inW, inB, biasRows.get(rows));
            out.add(linear(pre.mul(slope), outW, outB, biasRows.get(rows)));
        }
        return out.size() == 1 ? out.get(0) : NDArrays.concat(out, 1);
    }

    /** parts·Wᵀ, the bias (if any) added to the bias part only ({@code biasRows}: 1 there, 0 elsewhere). */
    private static NDArray linear(NDArray parts, NDArray weight, NDArray bias, NDArray biasRows) {
        NDArray y = parts.matMul(weight.transpose());
        return bias == null ? y : y.add(biasRows.mul(bias));
    }

    /**
     * The layer norm linearised at each token's σ of the parts' sum: part ↦ γ ⊙ (part − mean(part)) / σ, β to the bias
     * part. The parts of the output sum to the norm of their sum exactly.
     */
    private static NDArray norm(NDArray parts, NDArray gamma, NDArray beta, NDArray biasRows, double eps) {
        NDArray total = parts.sum(new int[] {1});
        NDArray centred = total.sub(total.mean(new int[] {-1}, true));
        NDArray sigma = centred.square().mean(new int[] {-1}, true).add((float) eps).sqrt().expandDims(1); // [B, 1, S, 1]
        NDArray out = parts.sub(parts.mean(new int[] {-1}, true)).div(sigma).mul(gamma);
        return beta == null ? out : out.add(biasRows.mul(beta));
    }

    /** act(u)/u per element, the activation's line through the origin at u (DecompX's linearisation). */
    private static NDArray slopes(Activation activation, NDArray u) {
        NDArray tiny = u.abs().lt(SMALLEST_PREACTIVATION).toType(DataType.FLOAT32, false);
        NDArray safe = u.add(tiny.mul(SMALLEST_PREACTIVATION));
        return activation.apply(safe).div(safe);
    }
}
