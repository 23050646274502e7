package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.MethodOption;
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
 * DecompX (Modarressi et al., ACL 2023): every hidden state is kept as a sum of parts, one per input token, and the
 * parts are propagated through the whole model: attention (its probabilities as the forward pass computed them), the
 * residuals, both layer norms (linearised at each token's own σ), the feed-forward block (its activation linearised
 * per neuron as act(u)/u at the token's actual pre-activation u) and the classification head likewise. Token k's
 * score for a target is its part of the target's logit (of the start or end logit at the target position, for QA).
 *
 * <p>Biases, by default as the authors' code and paper (option {@link #BIAS} {@code absdot}): each bias b is shared
 * among the parts at each position in proportion to |part·b| (AbsDot, paper Eq. 5–6; code
 * {@code BertLayer.bias_decomposer}), the part being the term the bias is added to: the attention block's output
 * b_Att = b_V W_O + b_O by the attention term (paper Eq. 5), each norm's β by the normalised parts, each dense
 * layer's bias by its product. So the tokens' parts sum to every hidden state and to the logits. With {@code separate}
 * (the code's {@code include_bias_token=True}) one more part receives every bias whole and the tokens' parts sum to
 * the logit less it. The parts of samples of similar length are batched as [B, parts, S, hidden].
 */
public final class DecompX extends NamedMethod {

    public static final String NAME = "decompx";
    /** How biases are attributed. */
    public static final MethodOption<String> BIAS = MethodOption.choice("decompx_bias", List.of("absdot", "separate"),
            "absdot", "each bias shared among the tokens by |part·bias| (absdot, the authors' default: the "
            + "tokens' parts sum to the logit) or kept in a part of its own, written as the bias part (separate).");
    /** Where the authors' paper and code differ (README: DecompX's departures). */
    public static final MethodOption<String> READING = MethodOption.choice("decompx_reading", List.of("paper", "code"),
            "paper", "where the paper and the authors' code differ: paper (b_V in the shared attention bias at every "
            + "layer, AbsDot weights on the attention term, Eq. 5) or code (at layer 0 b_V in each token's value "
            + "vector, AbsDot weights on the attention term plus the residual).");
    /** Elements of a chunk of the parts' largest tensor, [B, parts, S, intermediate]: 64 MB in float32. */
    private static final long CHUNK_ELEMENTS = 1L << 24;
    /** Added to the activation's input in act(u)/u (the authors' code's 1e-12: 0/0 at u = 0). */
    private static final float SLOPE_EPSILON = 1e-12f;
    /** Added to AbsDot's denominator (the authors' code's): a position whose parts are all orthogonal to the bias. */
    private static final float SHARE_EPSILON = 1e-12f;

    /** Where biases go: shared among the token parts (AbsDot), or into a part of their own. */
    public enum BiasSharing {
        ABSDOT, SEPARATE;

        static BiasSharing of(String option) {
            return option.equals("separate") ? SEPARATE : ABSDOT;
        }
    }

    /**
     * How biases are attributed, and which reading where the paper and the authors' code differ ({@code code}: at
     * layer 0 the value bias travels with each token's value vector and the attention bias is b_O alone, and AbsDot
     * weighs the attention bias by the attention term plus the residual; the paper: b_Att = b_V W_O + b_O at every
     * layer, weighed by the attention term alone).
     */
    record Definition(BiasSharing sharing, boolean code) {

        static Definition of(MethodContext context) {
            return new Definition(BiasSharing.of(context.option(BIAS)), context.option(READING).equals("code"));
        }
    }

    public DecompX() {
        super(NAME, "Modarressi et al. 2023: token parts propagated through attention, norms, FFN and head, biases "
                + "shared by AbsDot (each token's part of the target logit)", Passes.FORWARD);
    }

    @Override
    public List<MethodOption<?>> options() {
        return List.of(BIAS, READING);
    }

    @Override
    public List<String> outputs() {
        return List.of("token_scores", "word_scores", "bias_part (decompx_bias=separate)", "layer_matrices",
                "layer_part_norms");
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
        Definition definition = Definition.of(context);
        return LayerContributions.inPasses(model, texts, context.options(), s -> new long[] {
            // the forward pass, and about three tensors of all parts [parts, S, hidden] alive at once in a layer
            io.attributionatlas.attribution.MemoryBudget.forwardRowBytes(c, s) + 3L * 4 * (s + 1L) * s * c.hiddenSize(),
            4L * (s + 1L) * s * c.hiddenSize()}, group -> propagate(model, group, definition, CHUNK_ELEMENTS).stream()
                    .map(r -> (Decomposition) (target, index) -> r.scores(NAME, target, index)).toList());
    }

    /**
     * One sample's decomposition, on the host.
     *
     * @param headParts per part k (the S tokens, then with {@code separate} the bias part): its logits [labels], or its
     *     start and end logits at every position [S][2] flattened, for QA
     * @param outputs per part, the width of its {@code headParts} row
     * @param logits the forward pass's logits (or start and end logits, [S][2] flattened)
     * @param layerError over the layers, max |Σ parts − hidden state| / max |hidden state| at the real tokens
     * @param layerMatrices per layer [i][k]: token k's part of token i's hidden state projected on it, part·h_i / ‖h_i‖²
     *     (Atlas's normalised summary: each row sums to 1, less the bias part's share with {@code separate})
     * @param partNorms per layer [i][k]: ‖part_k(h_i)‖₂, the authors' per-layer output ({@code output_aggregated="norm"})
     * @param separateBias whether the last part is the biases'
     */
    record Result(float[] headParts, int outputs, float[] logits, double layerError, float[][][] layerMatrices,
            float[][][] partNorms, int[] words, boolean separateBias) {

        /** The tokens' parts of a target as the method's scores (with the bias part, where there is one). */
        MethodScores scores(String name, String target, int index) {
            float[] scores = new float[words.length];
            for (int k = 0; k < scores.length; k++) {
                scores[k] = targetPart(target, index, k);
            }
            return MethodScores.ofDecomposition(name, scores, words, 1, null, layerMatrices)
                    .withDecomposition(separateBias ? biasPart(target, index) : null, partNorms);
        }

        /** Token k's part of a target: a class's logit, or the start or end logit at a position. */
        float targetPart(String target, int index, int k) {
            return switch (target) {
                case "start" -> headParts[k * outputs + 2 * index];
                case "end" -> headParts[k * outputs + 2 * index + 1];
                default -> headParts[k * outputs + index];
            };
        }

        /** The bias part of a target; 0 where the biases are shared among the tokens. */
        float biasPart(String target, int index) {
            return separateBias ? targetPart(target, index, headParts.length / outputs - 1) : 0f;
        }
    }

    /** The paper's reading with {@code sharing}, in chunks of the default size. */
    static List<Result> propagate(TransformerModel model, List<EncodedText> texts, BiasSharing sharing) {
        return propagate(model, texts, new Definition(sharing, false), CHUNK_ELEMENTS);
    }

    /**
     * The decomposition of samples in one padded pass. Every op of a layer is linear in the parts once the norms' σ,
     * the activations' slopes and the biases' shares are fixed, and σ and the slopes are the actual forward pass's
     * (taken from the sum of the parts, which is the actual state). The parts, [B, N, S, hidden] with part k &lt; S
     * token k's (zero for a padded k) and with {@code separate} part S the biases', go through the layers all at once
     * (AbsDot's shares compare the parts at each position); the feed-forward block's [B, N, S, intermediate] goes in
     * chunks of parts of at most {@code chunkElements}. A padded key gets no attention, so a real token's rows never
     * read a padded position.
     */
    static List<Result> propagate(TransformerModel model, List<EncodedText> texts, Definition definition,
            long chunkElements) {
        BiasSharing sharing = definition.sharing();
        ModelConfig config = model.config();
        int layers = config.numLayers();
        try (NDManager scope = model.manager().newSubManager()) {
            LayerContributions.Internals in = LayerContributions.Internals.of(model, texts, scope);
            NDArray x0 = in.layerInputs().get(0);
            long batch = x0.getShape().get(0);
            int s = (int) x0.getShape().get(1);
            NDArray mask = in.mask(); // [B, S]
            Shares shares = Shares.of(sharing, s, chunkElements, scope);
            int n = shares.parts();
            // part k < S is token k's own input to layer 0; with separate, part S, the biases', starts empty
            NDArray realParts = n > s ? mask.concat(scope.zeros(new Shape(batch, 1)), 1) : mask;
            NDArray parts = shares.ownPositions().expandDims(0).mul(realParts.expandDims(-1)).expandDims(-1)
                    .mul(x0.expandDims(1)); // [B, N, S, hidden]
            double[][] errors = new double[(int) batch][layers];
            NDArray realPositions = mask.expandDims(-1); // [B, S, 1]
            NDList projections = new NDList();
            NDList norms = new NDList();
            for (int l = 0; l < layers; l++) {
                try (NDManager layerScope = scope.newSubManager()) {
                    parts.attach(layerScope); // freed with the layer
                    LayerWeights weights = LayerWeights.of(model, l, layerScope, definition.code() && l == 0);
                    parts = layer(weights, parts, in.attentions().get(l), shares, definition.code(),
                            config.layerNormEps(), chunkElements, layerScope);
                    parts.attach(scope);
                }
                try (NDManager summaryScope = scope.newSubManager()) {
                    NDArray actual = in.layerOutputs().get(l);
                    NDArray sum = parts.sum(new int[] {1});
                    sum.attach(summaryScope);
                    float[] worst = largest(sum.sub(actual).abs().mul(realPositions))
                            .div(largest(actual.abs().mul(realPositions))).toFloatArray();
                    for (int b = 0; b < batch; b++) {
                        errors[b][l] = worst[b];
                    }
                    NDArray tokenParts = parts.get(":, :" + s); // [B, k, i, hidden]
                    tokenParts.attach(summaryScope);
                    NDArray state = actual.expandDims(1); // h_i [B, 1, S, hidden]
                    state.attach(summaryScope);
                    NDArray squaredNorm = state.square().sum(new int[] {-1});
                    // [B, k, i] → [B, i, k], a chunk of parts at a time
                    NDArray projection = byChunks(tokenParts, batch * s * config.hiddenSize(), chunkElements,
                            summaryScope, (from, chunk) -> chunk.mul(state).sum(new int[] {-1}).div(squaredNorm))
                            .transpose(0, 2, 1);
                    NDArray norm = tokenParts.norm(new int[] {-1}).transpose(0, 2, 1);
                    projection.attach(scope);
                    norm.attach(scope);
                    projections.add(projection);
                    norms.add(norm);
                }
            }
            Head head = Head.of(model, in, scope);
            NDArray allHeadParts = head.parts(parts, shares); // [B, N, labels] or [B, N, S, 2]
            NDArray layerMatrices = NDArrays.stack(projections, 1); // [B, L, S, S]
            NDArray layerNorms = NDArrays.stack(norms, 1);
            List<Result> out = new ArrayList<>();
            for (int b = 0; b < batch; b++) {
                int length = in.lengths()[b];
                // its own tokens' parts (and the bias part); for QA, its own positions
                NDArray own = allHeadParts.get(b);
                own = n > s ? own.get(":" + length).concat(own.get(s + ":"), 0) : own.get(":" + length);
                NDArray ownLogits = head.logits().get(b);
                if (config.task() == Task.QUESTION_ANSWERING) {
                    own = own.get(":, :" + length);
                    ownLogits = ownLogits.get(":" + length);
                }
                double error = java.util.Arrays.stream(errors[b]).max().orElse(0);
                int ownParts = n > s ? length + 1 : length;
                out.add(new Result(own.toFloatArray(), (int) (own.size() / ownParts), ownLogits.toFloatArray(), error,
                        LayerContributions.toHost(layerMatrices, b, length), LayerContributions.toHost(layerNorms, b,
                                length), texts.get(b).words(), n > s));
            }
            return out;
        }
    }

    /** Each sample's largest element of x [B, …]. */
    private static NDArray largest(NDArray x) {
        return x.reshape(x.getShape().get(0), -1).max(new int[] {1});
    }

    /**
     * How a bias joins parts [B, N, …] (part axis 1): with AbsDot, ω_k b with ω_k = |basis_k·b| / (Σ_k |basis_k·b| +
     * 1e-12) at each position (the basis being the term the bias is added to); with separate, whole to the last part.
     */
    private record Shares(BiasSharing sharing, int parts, NDArray ownPositions, NDArray lastPart, long chunkElements,
            NDManager scope) {

        /**
         * For samples of {@code s} positions: N parts (S, or S + 1 with separate), [N, S] with 1 where part k is the
         * token at position k (the bias part is none), and [N] with 1 at the bias part.
         */
        static Shares of(BiasSharing sharing, int s, long chunkElements, NDManager scope) {
            int n = sharing == BiasSharing.SEPARATE ? s + 1 : s;
            NDArray own = scope.eye(s);
            NDArray last = scope.zeros(new Shape(n));
            if (n > s) {
                own = own.concat(scope.zeros(new Shape(1, s)), 0);
                last = scope.zeros(new Shape(s)).concat(scope.ones(new Shape(1)), 0);
            }
            return new Shares(sharing, n, own, last, chunkElements, scope);
        }

        /** {@code parts} with the bias joined, in place, a chunk of parts at a time (no temporary of all the parts). */
        NDArray addi(NDArray parts, NDArray basis, NDArray bias) {
            if (bias == null) {
                return parts;
            }
            try (NDManager temporaries = scope.newSubManager()) {
                NDArray weights = weights(basis, bias.reshape(bias.size(), 1), parts.getShape().dimension());
                weights.attach(temporaries);
                int n = (int) parts.getShape().get(1);
                int chunk = (int) Math.max(1, Math.min(n, chunkElements * n / Math.max(1, parts.size())));
                if (chunk == n) {
                    NDArray share = weights.mul(bias);
                    share.attach(temporaries);
                    return parts.addi(share);
                }
                for (int from = 0; from < n; from += chunk) {
                    ai.djl.ndarray.index.NDIndex rows = new ai.djl.ndarray.index.NDIndex(":, " + from + ":"
                            + Math.min(n, from + chunk));
                    try (NDManager chunkScope = temporaries.newSubManager()) {
                        NDArray share = weights.get(rows);
                        share.attach(chunkScope);
                        NDArray current = parts.get(rows);
                        current.attach(chunkScope);
                        parts.set(rows, current.add(share.mul(bias)));
                    }
                }
                return parts;
            }
        }

        /**
         * Each part's share ω_k [B, N, …, 1] of a bias b whose dot with a part is basis·{@code direction} ([width, 1]):
         * |basis·direction| over the position's sum with AbsDot; with separate, 1 at the bias part ([1, N, 1, …]).
         */
        NDArray weights(NDArray basis, NDArray direction, int dimension) {
            if (sharing == BiasSharing.SEPARATE) {
                long[] shape = new long[dimension];
                java.util.Arrays.fill(shape, 1);
                shape[1] = this.parts;
                return lastPart.reshape(new Shape(shape));
            }
            NDArray dots = basis.matMul(direction).abs();
            return dots.div(dots.sum(new int[] {1}, true).add(SHARE_EPSILON));
        }
    }

    /**
     * A layer's parameters as operands: transposed weights and the biases, float32, owned by the layer's scope (views of
     * the model's own tensors where it computes in float32; an op's result lives on its first operand's manager, so a
     * parameter is never one). {@code attentionBias} is b_Att = b_V W_O + b_O (the paper's Eq. 3 and 16), or with
     * {@code tokenValueBias} (the code's layer 0) b_O alone, {@code valueB} then being each token's value bias.
     */
    private record LayerWeights(NDArray valueT, NDArray valueB, NDArray outT, NDArray attentionBias, NDArray norm1W,
            NDArray norm1B, NDArray inT, NDArray inB, NDArray outFfnT, NDArray outFfnB, NDArray norm2W, NDArray norm2B,
            Activation activation) {

        static LayerWeights of(TransformerModel model, int l, NDManager scope, boolean tokenValueBias) {
            NDArray outT = LayerContributions.transposed(model.layerParameter(l, LayerRole.ATTN_OUT_W), scope);
            return new LayerWeights(LayerContributions.transposed(model.layerParameter(l, LayerRole.VALUE_W), scope),
                    tokenValueBias ? LayerContributions.operand(model.layerParameter(l, LayerRole.VALUE_B), scope)
                            : null, outT, tokenValueBias ? LayerContributions.operand(model.layerParameter(l,
                                    LayerRole.ATTN_OUT_B), scope) : LayerContributions.attentionBias(model, l, outT,
                                            scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.ATTN_NORM_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.ATTN_NORM_B), scope),
                    LayerContributions.transposed(model.layerParameter(l, LayerRole.FFN_IN_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.FFN_IN_B), scope),
                    LayerContributions.transposed(model.layerParameter(l, LayerRole.FFN_OUT_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.FFN_OUT_B), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.OUT_NORM_W), scope),
                    LayerContributions.operand(model.layerParameter(l, LayerRole.OUT_NORM_B), scope),
                    model.config().activation());
        }
    }

    /**
     * The head on the parts: classification's dense layer, its activation linearised at the actual pooled state's
     * pre-activation, and the output layer (on the first token); QA's start and end projection at every position.
     * Each bias joins the parts as in the layers (the code's {@code BertModel.ffn_decomposer} and
     * {@code BertForSequenceClassification.ffn_decomposer}: the output bias by |part·b| over the labels).
     */
    private record Head(Task task, NDArray denseT, NDArray denseB, Activation activation, NDArray outT, NDArray outB,
            NDArray logits) {

        static Head of(TransformerModel model, LayerContributions.Internals in, NDManager scope) {
            ModelConfig config = model.config();
            if (config.task() == Task.QUESTION_ANSWERING) {
                return new Head(Task.QUESTION_ANSWERING, null, null, null, LayerContributions.transposed(
                        model.globalParameter(Role.QA_W), scope), LayerContributions.operand(model.globalParameter(
                                Role.QA_B), scope), LayerContributions.float32(in.result().startLogits().stack(
                                        in.result().endLogits(), 2)));
            }
            if (config.task() != Task.SEQUENCE_CLASSIFICATION) {
                throw new IllegalArgumentException("a bare encoder has no logits to decompose");
            }
            return new Head(Task.SEQUENCE_CLASSIFICATION, LayerContributions.transposed(model.globalParameter(
                    Role.CLS_HIDDEN_W), scope), LayerContributions.operand(model.globalParameter(Role.CLS_HIDDEN_B),
                            scope), config.family().classifierActivation(config), LayerContributions.transposed(
                                    model.globalParameter(Role.CLS_OUT_W), scope), LayerContributions.operand(
                                            model.globalParameter(Role.CLS_OUT_B), scope), LayerContributions.float32(
                                                    in.result().logits()));
        }

        /** The parts' logits: [B, N, labels], or [B, N, S, 2] for QA. */
        NDArray parts(NDArray parts, Shares shares) {
            if (task == Task.QUESTION_ANSWERING) {
                NDArray y = parts.matMul(outT);
                return shares.addi(y, y, outB);
            }
            NDArray dense = parts.get(":, :, 0, :").matMul(denseT); // [B, N, hidden]
            dense = shares.addi(dense, dense, denseB);
            NDArray linear = dense.mul(slopes(activation, dense.sum(new int[] {1}, true)));
            NDArray y = linear.matMul(outT);
            return shares.addi(y, y, outB);
        }
    }

    /**
     * One post-norm layer on all the parts [B, N, S, hidden] (released): attention, residual, norm, feed-forward,
     * residual, norm, each op linear in the parts, each bias joining them by {@code shares}, each norm's σ and the
     * activation's slopes the actual state's (the sum of the parts). The value path and the feed-forward block run in
     * chunks of parts of at most {@code chunkElements} in their largest tensor; between them a layer holds about three
     * tensors of all the parts.
     */
    private static NDArray layer(LayerWeights w, NDArray parts, NDArray attention, Shares shares,
            boolean basisWithResidual, double eps, long chunkElements, NDManager scope) {
        long batch = parts.getShape().get(0);
        long s = parts.getShape().get(2);
        long d = parts.getShape().get(3);
        // the code's layer 0: part k is token k's input at position k alone, b_V in its value vector [1, N, S, hidden]
        NDArray ownValues = w.valueB() == null ? null : shares.ownPositions().expandDims(0).expandDims(-1)
                .mul(w.valueB());
        if (ownValues != null) {
            ownValues.attach(scope); // freed with the layer
        }
        NDArray attended = byChunks(parts, batch * s * d, chunkElements, scope, (from, chunk) -> {
            NDManager chunkScope = chunk.getManager(); // a result lives on its first operand's manager: kept here
            NDArray values = chunk.matMul(w.valueT());
            if (ownValues != null) {
                NDArray ownChunk = ownValues.get(":, " + from + ":" + (from + chunk.getShape().get(1)));
                ownChunk.attach(chunkScope);
                values.addi(ownChunk);
            }
            long n = chunk.getShape().get(1);
            long h = attention.getShape().get(1);
            // the parts side by side in each head's columns, [B, H, S, n·head size]: one product with A per head
            // (a broadcast of A over the parts would be copied n times)
            NDArray columns = values.reshape(batch, n, s, h, d / h).transpose(0, 3, 2, 1, 4).reshape(batch, h, s,
                    n * (d / h));
            NDArray mixed = attention.matMul(columns);
            mixed.attach(chunkScope);
            return mixed.reshape(batch, h, s, n, d / h).transpose(0, 3, 2, 1, 4).reshape(batch, n, s, d)
                    .matMul(w.outT()); // z: each part's attention term
        });
        // b_Att shared by the attention term (paper Eq. 5), then the residual; the code shares it after the residual
        NDArray residual = basisWithResidual ? shares.addi(attended.addi(parts), attended, w.attentionBias())
                : shares.addi(attended, attended, w.attentionBias()).addi(parts);
        parts.close();
        NDArray afterAttention = normi(residual, w.norm1W(), w.norm1B(), shares, eps);
        NDArray ffn = feedForward(w, afterAttention, shares, chunkElements, scope);
        ffn.addi(afterAttention);
        afterAttention.close();
        return normi(ffn, w.norm2W(), w.norm2B(), shares, eps);
    }

    /**
     * A map of parts [B, N, …] applied to chunks of parts within {@code chunkElements}, each chunk's result written into
     * one tensor of all the parts (no concatenated copy).
     */
    private static NDArray byChunks(NDArray parts, long elementsPerPart, long chunkElements, NDManager scope,
            java.util.function.BiFunction<Integer, NDArray, NDArray> map) {
        int n = (int) parts.getShape().get(1);
        int chunk = (int) Math.max(1, Math.min(n, chunkElements / Math.max(1, elementsPerPart)));
        NDArray all = null;
        for (int from = 0; from < n; from += chunk) {
            int to = Math.min(n, from + chunk);
            try (NDManager chunkScope = scope.newSubManager()) {
                NDArray chunkParts = parts.get(":, " + from + ":" + to);
                chunkParts.attach(chunkScope);
                NDArray y = map.apply(from, chunkParts);
                if (to - from == n) {
                    y.attach(scope);
                    return y;
                }
                if (all == null) {
                    long[] shape = y.getShape().getShape();
                    shape[1] = n;
                    all = scope.zeros(new Shape(shape), y.getDataType());
                }
                all.set(new ai.djl.ndarray.index.NDIndex(":, " + from + ":" + to), y);
            }
        }
        return all;
    }

    /**
     * The feed-forward block on the parts: x·W₁ᵀ with b₁ joining (AbsDot's |part·b₁| is part·(W₁ᵀb₁) in the hidden
     * space, so the shares need no intermediate tensor), times the slopes act(u)/u at the actual pre-activation u,
     * then ·W₂ᵀ, in chunks of parts, and b₂ joining the result.
     */
    private static NDArray feedForward(LayerWeights w, NDArray parts, Shares shares, long chunkElements,
            NDManager scope) {
        long batch = parts.getShape().get(0);
        long s = parts.getShape().get(2);
        long intermediate = w.inT().getShape().get(1);
        NDArray pre = parts.sum(new int[] {1}, true).matMul(w.inT()); // [B, 1, S, intermediate]
        if (w.inB() != null) {
            pre = pre.add(w.inB());
        }
        NDArray slope = slopes(w.activation(), pre);
        // each part's share of b₁ [B, N, S, 1], or null without b₁
        NDArray inBias = w.inB() == null ? null : shares.weights(parts, w.inT().matMul(w.inB().reshape(intermediate,
                1)), 4);
        NDArray y = byChunks(parts, batch * s * intermediate, chunkElements, scope, (from, chunk) -> {
            NDArray u = chunk.matMul(w.inT());
            if (inBias != null) {
                NDArray share = inBias.get(":, " + from + ":" + (from + chunk.getShape().get(1)));
                share.attach(chunk.getManager());
                u.addi(share.mul(w.inB()));
            }
            return u.muli(slope).matMul(w.outFfnT());
        });
        return shares.addi(y, y, w.outFfnB());
    }

    /**
     * The layer norm linearised at each position's σ of the actual state (the sum of the parts), in place: part ↦ γ ⊙
     * (part − mean(part)) / σ, then β joining by the normalised parts. The parts of the output sum to the norm of
     * their sum.
     */
    private static NDArray normi(NDArray parts, NDArray gamma, NDArray beta, Shares shares, double eps) {
        try (NDManager temporaries = parts.getManager().newSubManager()) {
            NDArray whole = parts.sum(new int[] {1}, true);
            whole.attach(temporaries);
            NDArray centred = whole.sub(whole.mean(new int[] {-1}, true));
            NDArray sigma = centred.square().mean(new int[] {-1}, true).add((float) eps).sqrt(); // [B, 1, S, 1]
            NDArray mean = parts.mean(new int[] {-1}, true);
            mean.attach(temporaries);
            parts.subi(mean).divi(sigma).muli(gamma);
        }
        return shares.addi(parts, parts, beta);
    }

    /** act(u)/(u + 1e-12) per element, the activation's line through the origin at u (DecompX's zero-origin slope). */
    private static NDArray slopes(Activation activation, NDArray u) {
        NDArray safe = u.add(SLOPE_EPSILON);
        return activation.apply(u).div(safe);
    }
}
