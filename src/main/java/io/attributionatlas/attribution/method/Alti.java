package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import io.attributionatlas.attribution.MethodOption;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;

/**
 * ALTI, Aggregation of Layer-wise Token-to-token Interactions (Ferrando et al., EMNLP 2022). In each post-norm layer
 * the attention block's output for token i, x̃_i = LN(Σ_j T_i(x_j) + b_O), is decomposed per input token j:
 * T_i(x_j) = Σ_h A^h_ij (x_j W_V^h + b_V^h) W_O^h, plus x_i itself for j = i (the residual), with the layer norm
 * linearised at i's own standard deviation, L_i(t) = γ ⊙ (t − mean(t)) / σ_i. As in the authors' code
 * (mt-upc/transformer-contributions, src/contributions.py, which hooks the value projection's output), the value
 * bias travels with its value vector, so it belongs to token j; only b_O and β belong to no token. Option
 * {@link #VALUE_BIAS} {@code none} puts b_V W_O with them instead (Atlas's earlier definition).
 * j's contribution is the Manhattan proximity c_ij = max(0, ‖x̃_i‖₁ − ‖x̃_i − L_i(T_i(x_j))‖₁), normalised per
 * row; layers are combined by rollout and read at the token the head reads. Per head, the same proximity of the
 * head's own term gives the head's contribution mass (its share of each row's total, averaged over rows), which
 * head_stats reports under the method's name.
 */
public final class Alti extends NamedMethod {

    public static final String NAME = "alti";
    /** Where the value bias goes: with token j's value vector (the authors' code), or with the biases of no token. */
    public static final MethodOption<String> VALUE_BIAS = MethodOption.choice("alti_value_bias", List.of("token",
            "none"), "token", "the value bias b_V with each token's value vector (token, the authors' code) or "
            + "with b_O, belonging to no token (none).");
    /**
     * Elements of one [B, heads, rows, S, hidden] chunk of the per-head terms: 32 MB in float32, of which the
     * proximity keeps about three at once.
     */
    private static final long CHUNK_ELEMENTS = 1L << 23;

    public Alti() {
        super(NAME, "Ferrando et al. 2022: each layer's attention, residual and layer norm decomposed per token, "
                + "Manhattan proximity, rolled out to the pooled token (the same scores for every target)",
                Passes.FORWARD);
    }

    @Override
    public List<MethodOption<?>> options() {
        return List.of(VALUE_BIAS);
    }

    @Override
    public List<String> outputs() {
        return List.of("token_scores", "word_scores", "head_scores", "layer_matrices");
    }

    @Override
    public String refusesModel(ModelConfig config) {
        return config.family().refusesDecomposition(NAME);
    }

    /** One pass over samples of similar length, within the memory budget (see {@link LayerContributions#inPasses}). */
    @Override
    public List<Decomposition> decompose(TransformerModel model, List<EncodedText> texts, MethodContext context) {
        ModelConfig c = model.config();
        return LayerContributions.inPasses(model, texts, context.options(), s -> new long[] {
            io.attributionatlas.attribution.MemoryBudget.forwardRowBytes(c, s) + 4L * c.numLayers() * 3 * s * s,
            4L * c.numHeads() * s * s}, group -> decomposeBatch(model, group,
                    context.option(VALUE_BIAS).equals("token")));
    }

    private static List<Decomposition> decomposeBatch(TransformerModel model, List<EncodedText> texts,
            boolean valueBiasToTokens) {
        int layers = model.config().numLayers();
        try (NDManager scope = model.manager().newSubManager()) {
            boolean preNorm = model.config().family().preNorm();
            LayerContributions.Internals in = LayerContributions.Internals.of(model, texts, scope, preNorm);
            NDList raw = new NDList();
            NDList mass = new NDList();
            for (int l = 0; l < layers; l++) {
                NDArray[] layer = contributions(AttentionBlock.of(model, l, scope, valueBiasToTokens),
                        in.layerInputs().get(l), in.attentions().get(l), in.mask(), preNorm ? in.values().get(l) : null);
                raw.add(layer[0]);
                mass.add(layer[1]);
            }
            NDArray normalised = LayerContributions.normaliseRows(NDArrays.stack(raw, 1)); // [B, L, S, S]
            float[][] scores = LayerContributions.pooledRows(LayerContributions.rollout(normalised), in.mask(),
                    in.lengths(), model.config().family().poolsMean(model.config()));
            float[] heads = NDArrays.stack(mass, 1).toFloatArray(); // [B, L, H]
            int h = model.config().numHeads();
            List<Decomposition> out = new ArrayList<>();
            for (int b = 0; b < texts.size(); b++) {
                float[][] headMass = new float[layers][];
                for (int l = 0; l < layers; l++) {
                    headMass[l] = java.util.Arrays.copyOfRange(heads, (b * layers + l) * h, (b * layers + l + 1) * h);
                }
                out.add(Decomposition.same(MethodScores.ofDecomposition(NAME, scores[b], texts.get(b).words(), 1,
                        headMass, LayerContributions.toHost(normalised, b, in.lengths()[b]))));
            }
            return out;
        }
    }

    /**
     * A layer's value and output projections (transposed; the output one also per head, [heads, head size, hidden]),
     * the value bias where it goes with the value vectors (else null), the bias of no token, and the norm after the
     * residual (null in a pre-norm layer, which has none there): float32 operands owned by a pass's scope.
     */
    record AttentionBlock(NDArray valueT, NDArray valueB, NDArray outHeads, NDArray bias, NDArray normW, NDArray normB,
            int heads, double eps) {

        static AttentionBlock of(TransformerModel model, int layer, NDManager scope, boolean valueBiasToTokens) {
            int d = model.config().hiddenSize();
            int h = model.config().numHeads();
            if (model.config().family().preNorm()) {
                // the values are the forward pass's own (the norm before attention, any fused projection and bias)
                NDArray outT = LayerContributions.transposed(model.layerParameter(layer, LayerRole.ATTN_OUT_W), scope);
                return new AttentionBlock(null, null, outT.reshape(h, d / h, d), LayerContributions.operand(
                        model.layerParameter(layer, LayerRole.ATTN_OUT_B), scope), null, null, h, 0);
            }
            NDArray outT = LayerContributions.transposed(model.layerParameter(layer, LayerRole.ATTN_OUT_W), scope);
            NDArray outHeads = outT.reshape(h, d / h, d); // rows of Wᵀ are input features, grouped by head
            NDArray valueB = valueBiasToTokens ? LayerContributions.operand(model.layerParameter(layer,
                    LayerRole.VALUE_B), scope) : null;
            NDArray bias = valueBiasToTokens ? LayerContributions.operand(model.layerParameter(layer,
                    LayerRole.ATTN_OUT_B), scope) : LayerContributions.attentionBias(model, layer, outT, scope);
            return new AttentionBlock(LayerContributions.transposed(model.layerParameter(layer, LayerRole.VALUE_W),
                    scope), valueB, outHeads, bias,
                    LayerContributions.operand(model.layerParameter(layer, LayerRole.ATTN_NORM_W), scope),
                    LayerContributions.operand(model.layerParameter(layer, LayerRole.ATTN_NORM_B), scope), h,
                    model.config().layerNormEps());
        }
    }

    /**
     * One layer of B padded samples: the unnormalised contributions c [B, S(i), S(j)] and each head's contribution mass
     * [B, heads] (over the real rows of {@code mask} [B, S]), from the layer's input x [B, S, hidden] and attention
     * [B, heads, S, S], both returned on x's manager. The linearised norm is linear, so each head's term is
     * L_i(A^h_ij v_j W_O^h) = (A^h_ij / σ_i) G^h_j with G^h_j = γ ⊙ (v_j W_O^h − its mean), computed once per layer;
     * query rows are taken in chunks so that the per-head terms [B, heads, rows, S, hidden] stay within
     * {@link #CHUNK_ELEMENTS}. A padded key gets no attention and is not i, so it contributes 0 to a real row.
     *
     * <p>A pre-norm layer ({@code keptValues} [B, heads, S, head size], the forward pass's value vectors, computed from
     * the norm of each token's own input) has no norm after the residual: as the authors' code with
     * {@code pre_layer_norm}, T_i(x_j) = Σ_h A^h_ij v_j W_O^h (+ x_i) and x̃_i = Σ_j T_i(x_j) + b_O, the residual
     * stream after attention.
     */
    static NDArray[] contributions(AttentionBlock b, NDArray x, NDArray attention, NDArray mask, NDArray keptValues) {
        NDManager outer = x.getManager();
        long batch = x.getShape().get(0);
        int s = (int) x.getShape().get(1);
        int d = (int) x.getShape().get(2);
        int h = b.heads();
        int dh = d / h;
        try (NDManager m = outer.newSubManager()) {
            NDArray values;
            if (keptValues != null) {
                values = LayerContributions.float32(keptValues).duplicate();
                values.attach(m);
            } else {
                NDArray projected = x.matMul(b.valueT());
                projected.attach(m); // what derives from it is freed with the layer
                if (b.valueB() != null) {
                    projected = projected.add(b.valueB()); // token j's value vector, its bias in it
                }
                values = projected.reshape(batch, s, h, dh).transpose(0, 2, 1, 3);
            }
            // per head, each token's value vector through the head's slice of the output projection: [B, heads, S, hidden]
            NDArray valueOut = values.matMul(b.outHeads());
            NDArray a = attention.duplicate();
            a.attach(m);
            // the block's output: attention, residual, the bias of no token (then the norm, post-norm)
            NDArray sum = a.matMul(valueOut).sum(new int[] {1}).add(x);
            if (b.bias() != null) {
                sum = sum.add(b.bias());
            }
            NDArray g; // G^h_j: [B, heads, S, hidden]
            NDArray out; // x̃_i: [B, S, hidden]
            NDArray residual; // L_i(x_i): [B, S, hidden]
            NDArray weights; // A^h_ij / σ_i: [B, heads, S, S]
            if (b.normW() == null) {
                g = valueOut;
                out = sum;
                residual = x.duplicate();
                residual.attach(m);
                weights = a;
            } else {
                g = valueOut.sub(valueOut.mean(new int[] {-1}, true)).mul(b.normW());
                NDArray centred = sum.sub(sum.mean(new int[] {-1}, true));
                NDArray sigma = centred.square().mean(new int[] {-1}, true).add((float) b.eps()).sqrt(); // [B, S, 1]
                out = centred.div(sigma).mul(b.normW());
                if (b.normB() != null) {
                    out = out.add(b.normB());
                }
                residual = x.sub(x.mean(new int[] {-1}, true));
                residual.attach(m);
                residual = residual.mul(b.normW()).div(sigma);
                weights = a.div(sigma.reshape(batch, 1, s, 1));
            }
            NDArray outNorm = out.abs().sum(new int[] {-1}); // [B, S]
            NDArray eye = m.eye(s);
            NDList rows = new NDList();
            NDArray mass = m.zeros(new ai.djl.ndarray.types.Shape(batch, h));
            int chunk = (int) Math.max(1, Math.min(s, CHUNK_ELEMENTS / (batch * h * s * d)));
            for (int from = 0; from < s; from += chunk) {
                String range = from + ":" + (Math.min(s, from + chunk));
                try (NDManager pass = m.newSubManager()) {
                    NDArray w = weights.get(":, :, " + range + ", :"); // [B, heads, n, S]
                    NDArray outRows = out.get(":, " + range); // [B, n, hidden]
                    NDArray normRows = outNorm.get(":, " + range); // [B, n]
                    NDArray diagonal = eye.get(range); // [n, S]
                    NDArray ownRows = residual.get(":, " + range); // [B, n, hidden]
                    NDArray real = mask.get(":, " + range); // [B, n]
                    for (NDArray t : new NDArray[] {w, outRows, normRows, diagonal, ownRows, real}) {
                        t.attach(pass);
                    }
                    NDArray perHead = w.expandDims(-1).mul(g.expandDims(2)); // [B, heads, n, S(j), hidden]
                    NDArray cHead = proximity(outRows.expandDims(1), normRows.expandDims(1), perHead); // [B, heads, n, S]
                    // the whole term of j in i: every head's, and i itself at j = i (the residual)
                    NDArray terms = perHead.sum(new int[] {1}).add(diagonal.expandDims(-1).expandDims(0)
                            .mul(ownRows.expandDims(2))); // [B, n, S, hidden]
                    NDArray c = proximity(outRows, normRows, terms); // [B, n, S]
                    NDArray rowTotal = c.sum(new int[] {-1}); // [B, n]
                    NDArray shares = cHead.sum(new int[] {-1}).div(rowTotal.add(rowTotal.eq(0f).toType(
                            rowTotal.getDataType(), false)).expandDims(1)); // [B, heads, n]
                    mass = mass.add(shares.mul(real.expandDims(1)).sum(new int[] {-1})); // on mass's manager
                    c.attach(m);
                    rows.add(c);
                }
            }
            NDArray c = NDArrays.concat(rows, 1);
            NDArray headMass = mass.div(mask.sum(new int[] {1}, true));
            c.attach(outer);
            headMass.attach(outer);
            return new NDArray[] {c, headMass};
        }
    }

    /** max(0, ‖x̃_i‖₁ − ‖x̃_i − t_ij‖₁) over the last axis; out [.., n, hidden], parts [.., n, S, hidden]. */
    private static NDArray proximity(NDArray out, NDArray outNorm, NDArray parts) {
        NDArray distance = out.expandDims(-2).sub(parts).abs().sum(new int[] {-1});
        return outNorm.expandDims(-1).sub(distance).maximum(0f);
    }
}
