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
import java.util.ArrayList;
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
    /** Elements of a chunk of parts' largest tensor, [B, parts, S, intermediate]: 64 MB in float32. */
    private static final long CHUNK_ELEMENTS = 1L << 24;
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
            // the forward pass, per layer the parts' sums and matrix columns, and the head's parts
            io.attributionatlas.attribution.MemoryBudget.forwardRowBytes(c, s)
                    + 4L * c.numLayers() * (2L * s * c.hiddenSize() + 2L * s * s) + 8L * (s + 1) * s,
            4L * c.numHeads() * s * s}, group -> propagate(model, group).stream()
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
     * The decomposition of samples in one padded pass. Every op of a layer is linear in the parts once the norms' σ and
     * the activations' slopes are fixed, and those are the actual forward pass's: a first pass runs each layer on its
     * actual input (the sum of all parts) and keeps them. Then the parts, [B, parts, S, hidden] with part k &lt; S token
     * k's (zero for a padded k) and part S the biases', go through all layers and the head in chunks of parts, so memory
     * is bounded at any length. A padded key gets no attention, so a real token's rows never read a padded position.
     */
    static List<Result> propagate(TransformerModel model, List<EncodedText> texts) {
        return propagate(model, texts, CHUNK_ELEMENTS);
    }

    /** As {@link #propagate(TransformerModel, List)}, with chunks of parts of at most {@code chunkElements}. */
    static List<Result> propagate(TransformerModel model, List<EncodedText> texts, long chunkElements) {
        ModelConfig config = model.config();
        int layers = config.numLayers();
        try (NDManager scope = model.manager().newSubManager()) {
            LayerContributions.Internals in = LayerContributions.Internals.of(model, texts, scope);
            NDArray x0 = in.layerInputs().get(0);
            long batch = x0.getShape().get(0);
            int s = (int) x0.getShape().get(1);
            int n = s + 1;
            NDArray mask = in.mask(); // [B, S]
            List<LayerWeights> weights = new ArrayList<>();
            List<Linearisation> at = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                weights.add(LayerWeights.of(model, l, scope));
                Linearisation measured = new Linearisation();
                try (NDManager layerScope = scope.newSubManager()) {
                    NDArray input = in.layerInputs().get(l).expandDims(1); // the whole state as one part, biases in it
                    input.attach(layerScope);
                    layer(weights.get(l), input, in.attentions().get(l), scope.ones(new Shape(1, 1, 1)), measured,
                            config.layerNormEps(), layerScope);
                    measured.attach(scope);
                }
                at.add(measured);
            }
            Head head = Head.of(model, in, scope);
            // part k < S is token k's own embedding; part S, the biases', starts empty
            NDArray tokens = scope.eye(s).concat(scope.zeros(new Shape(1, s)), 0).expandDims(0)
                    .mul(mask.concat(scope.zeros(new Shape(batch, 1)), 1).expandDims(-1)); // [B, N, S]
            NDArray biasRows = scope.zeros(new Shape(s)).concat(scope.ones(new Shape(1)), 0).reshape(n, 1, 1);
            NDArray[] sums = new NDArray[layers];
            NDArray[] states = new NDArray[layers]; // h_i [B, 1, S, hidden], the actual layer outputs
            NDArray[] squaredNorms = new NDArray[layers]; // ‖h_i‖² [B, 1, S]
            List<NDList> matrixColumns = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                sums[l] = scope.zeros(new Shape(batch, s, config.hiddenSize()));
                states[l] = in.layerOutputs().get(l).expandDims(1);
                squaredNorms[l] = states[l].square().sum(new int[] {-1});
                matrixColumns.add(new NDList());
            }
            NDList headParts = new NDList();
            long perPart = batch * s * Math.max(config.hiddenSize(), config.intermediateSize());
            int chunk = (int) Math.max(1, Math.min(n, chunkElements / perPart));
            for (int from = 0; from < n; from += chunk) {
                String rows = from + ":" + Math.min(n, from + chunk);
                try (NDManager chunkScope = scope.newSubManager()) {
                    NDArray chunkBias = biasRows.get(rows);
                    chunkBias.attach(chunkScope);
                    NDArray parts = tokens.get(":, " + rows).expandDims(-1).mul(x0.expandDims(1)); // [B, n, S, hidden]
                    parts.attach(chunkScope);
                    for (int l = 0; l < layers; l++) {
                        try (NDManager layerScope = chunkScope.newSubManager()) {
                            parts.attach(layerScope); // freed with the layer
                            parts = layer(weights.get(l), parts, in.attentions().get(l), chunkBias, at.get(l),
                                    config.layerNormEps(), layerScope);
                            sums[l].addi(parts.sum(new int[] {1}));
                            // token k's part projected on h_i, the actual state: [B, k, i]
                            NDArray projected = parts.mul(states[l]).sum(new int[] {-1}).div(squaredNorms[l]);
                            projected.attach(scope);
                            matrixColumns.get(l).add(projected);
                            parts.attach(chunkScope);
                        }
                    }
                    NDArray partsOfHead = head.parts(parts, chunkBias);
                    partsOfHead.attach(scope);
                    headParts.add(partsOfHead);
                }
            }
            double[][] errors = new double[(int) batch][layers];
            NDArray realPositions = mask.expandDims(-1); // [B, S, 1]
            NDList matrices = new NDList();
            for (int l = 0; l < layers; l++) {
                NDArray actual = in.layerOutputs().get(l);
                float[] worst = largest(sums[l].sub(actual).abs().mul(realPositions)).div(largest(actual.abs()
                        .mul(realPositions))).toFloatArray();
                for (int b = 0; b < batch; b++) {
                    errors[b][l] = worst[b];
                }
                // [B, N, S(i)] → the tokens' columns, as [B, i, k]
                matrices.add(NDArrays.concat(matrixColumns.get(l), 1).get(":, :" + s).transpose(0, 2, 1));
            }
            NDArray layerMatrices = NDArrays.stack(matrices, 1); // [B, L, S, S]
            NDArray allHeadParts = NDArrays.concat(headParts, 1); // [B, N, labels] or [B, N, S, 2]
            List<Result> out = new ArrayList<>();
            for (int b = 0; b < batch; b++) {
                int length = in.lengths()[b];
                // its own tokens' parts and the bias part; for QA, its own positions
                NDArray own = allHeadParts.get(b);
                own = own.get(":" + length).concat(own.get(s + ":"), 0);
                NDArray ownLogits = head.logits().get(b);
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

    /**
     * Where a layer is linearised, per sample and token: the σ of both norms [B, 1, S, 1] and the feed-forward
     * activation's slopes act(u)/u [B, 1, S, intermediate], measured on the actual forward pass.
     */
    private static final class Linearisation {
        NDArray attentionSigma;
        NDArray slope;
        NDArray outputSigma;

        void attach(NDManager scope) {
            for (NDArray a : new NDArray[] {attentionSigma, slope, outputSigma}) {
                a.attach(scope);
            }
        }
    }

    /**
     * A layer's parameters as operands: transposed weights and the biases, float32, owned by the pass's scope (views of
     * the model's own tensors where it computes in float32; an op's result lives on its first operand's manager, so a
     * parameter is never one).
     */
    private record LayerWeights(NDArray valueT, NDArray outT, NDArray attentionBias, NDArray norm1W, NDArray norm1B,
            NDArray inT, NDArray inB, NDArray outFfnT, NDArray outFfnB, NDArray norm2W, NDArray norm2B,
            Activation activation) {

        static LayerWeights of(TransformerModel model, int l, NDManager scope) {
            NDArray outT = LayerContributions.transposed(model.layerParameter(l, LayerRole.ATTN_OUT_W), scope);
            NDArray bias = LayerContributions.attentionBias(model, l, outT, scope); // the bias part's
            return new LayerWeights(LayerContributions.transposed(model.layerParameter(l, LayerRole.VALUE_W), scope), outT, bias,
                    LayerContributions.operand(model.layerParameter(l, LayerRole.ATTN_NORM_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.ATTN_NORM_B), scope),
                    LayerContributions.transposed(model.layerParameter(l, LayerRole.FFN_IN_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.FFN_IN_B), scope),
                    LayerContributions.transposed(model.layerParameter(l, LayerRole.FFN_OUT_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.FFN_OUT_B), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.OUT_NORM_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.OUT_NORM_B), scope), model.config().activation());
        }
    }

    /**
     * The head on the parts: classification's dense layer, its activation linearised at the actual pooled state's
     * pre-activation, and the output layer (on the first token); QA's start and end projection at every position.
     */
    private record Head(Task task, NDArray denseT, NDArray denseB, NDArray slope, NDArray outT, NDArray outB,
            NDArray logits) {

        static Head of(TransformerModel model, LayerContributions.Internals in, NDManager scope) {
            ModelConfig config = model.config();
            if (config.task() == Task.QUESTION_ANSWERING) {
                return new Head(Task.QUESTION_ANSWERING, null, null, null, LayerContributions.transposed(model.globalParameter(Role.QA_W),
                        scope), LayerContributions.operand(model.globalParameter(Role.QA_B), scope), LayerContributions.float32(
                                in.result().startLogits().stack(in.result().endLogits(), 2)));
            }
            if (config.task() != Task.SEQUENCE_CLASSIFICATION) {
                throw new IllegalArgumentException("a bare encoder has no logits to decompose");
            }
            NDArray denseT = LayerContributions.transposed(model.globalParameter(Role.CLS_HIDDEN_W), scope);
            NDArray denseB = LayerContributions.operand(model.globalParameter(Role.CLS_HIDDEN_B), scope);
            NDArray pooled = in.layerOutputs().get(config.numLayers() - 1).get(":, 0, :"); // [B, hidden]
            NDArray u = pooled.matMul(denseT);
            NDArray slope = slopes(config.family().classifierActivation(config), denseB == null ? u : u.add(denseB));
            return new Head(Task.SEQUENCE_CLASSIFICATION, denseT, denseB, slope.expandDims(1),
                    LayerContributions.transposed(model.globalParameter(Role.CLS_OUT_W), scope),
                    LayerContributions.operand(model.globalParameter(Role.CLS_OUT_B), scope),
                    LayerContributions.float32(in.result().logits()));
        }

        /** The parts' logits: [B, n, labels], or [B, n, S, 2] for QA. */
        NDArray parts(NDArray parts, NDArray biasRows) {
            if (task == Task.QUESTION_ANSWERING) {
                return linear(parts, outT, outB, biasRows);
            }
            NDArray biasColumn = biasRows.reshape(biasRows.getShape().get(0), 1);
            NDArray dense = linear(parts.get(":, :, 0, :"), denseT, denseB, biasColumn);
            return linear(dense.mul(slope), outT, outB, biasColumn);
        }
    }

    /**
     * One post-norm layer on the parts [B, n, S, hidden]: attention, residual, norm, feed-forward, residual, norm, each
     * op linear at {@code at}; where {@code at} is still empty, the parts are the whole state and it is measured.
     */
    private static NDArray layer(LayerWeights w, NDArray parts, NDArray attention, NDArray biasRows,
            Linearisation at, double eps, NDManager scope) {
        long batch = parts.getShape().get(0);
        long n = parts.getShape().get(1);
        long s = parts.getShape().get(2);
        long d = parts.getShape().get(3);
        long h = attention.getShape().get(1);
        NDArray values = parts.matMul(w.valueT()).reshape(batch, n, s, h, d / h).transpose(0, 1, 3, 2, 4);
        NDArray probabilities = attention.expandDims(1);
        probabilities.attach(scope); // a view: its product lives with the layer
        NDArray mixed = probabilities.matMul(values).transpose(0, 1, 3, 2, 4).reshape(batch, n, s, d);
        NDArray residual = linear(mixed, w.outT(), w.attentionBias(), biasRows).add(parts);
        if (at.attentionSigma == null) {
            at.attentionSigma = sigma(residual, eps);
        }
        NDArray afterAttention = norm(residual, at.attentionSigma, w.norm1W(), w.norm1B(), biasRows);
        NDArray pre = linear(afterAttention, w.inT(), w.inB(), biasRows);
        if (at.slope == null) {
            at.slope = slopes(w.activation(), pre);
        }
        NDArray ffn = linear(pre.mul(at.slope), w.outFfnT(), w.outFfnB(), biasRows).add(afterAttention);
        if (at.outputSigma == null) {
            at.outputSigma = sigma(ffn, eps);
        }
        return norm(ffn, at.outputSigma, w.norm2W(), w.norm2B(), biasRows);
    }

    /** parts·Wᵀ (W given transposed), the bias (if any) added to the bias part only ({@code biasRows}: 1 there). */
    private static NDArray linear(NDArray parts, NDArray weightT, NDArray bias, NDArray biasRows) {
        NDArray y = parts.matMul(weightT);
        return bias == null ? y : y.add(biasRows.mul(bias));
    }

    /** Each token's σ of the whole state [B, 1, S, hidden] (the only part of the measuring pass). */
    private static NDArray sigma(NDArray whole, double eps) {
        NDArray centred = whole.sub(whole.mean(new int[] {-1}, true));
        return centred.square().mean(new int[] {-1}, true).add((float) eps).sqrt(); // [B, 1, S, 1]
    }

    /**
     * The layer norm linearised at each token's σ: part ↦ γ ⊙ (part − mean(part)) / σ, β to the bias part. The parts of
     * the output sum to the norm of their sum exactly.
     */
    private static NDArray norm(NDArray parts, NDArray sigma, NDArray gamma, NDArray beta, NDArray biasRows) {
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
