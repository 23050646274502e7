package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
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
 * the attention block's output for token i, x̃_i = LN(Σ_j T_i(x_j) + b), is decomposed per input token j:
 * T_i(x_j) = Σ_h A^h_ij x_j W_V^h W_O^h, plus x_i itself for j = i (the residual), with the layer norm linearised
 * at i's own standard deviation, L_i(t) = γ ⊙ (t − mean(t)) / σ_i; the biases (b = b_V W_O + b_O, and β) belong to no
 * token. j's contribution is the Manhattan proximity c_ij = max(0, ‖x̃_i‖₁ − ‖x̃_i − L_i(T_i(x_j))‖₁), normalised per
 * row; layers are combined by rollout and read at the token the head reads. Per head, the same proximity of the
 * head's own term gives the head's contribution mass (its share of each row's total, averaged over rows), which
 * head_stats reports under the method's name.
 */
public final class Alti extends NamedMethod {

    public static final String NAME = "alti";
    /**
     * Elements of one [heads, rows, S, hidden] chunk of the per-head terms: 32 MB in float32, of which the proximity
     * keeps about seven at once.
     */
    private static final long CHUNK_ELEMENTS = 1L << 23;

    public Alti() {
        super(NAME, "Ferrando et al. 2022: each layer's attention, residual and layer norm decomposed per token, "
                + "Manhattan proximity, rolled out to the pooled token (the same scores for every target)",
                Passes.FORWARD);
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
            4L * c.numHeads() * s * s}, group -> decomposeBatch(model, group));
    }

    private static List<Decomposition> decomposeBatch(TransformerModel model, List<EncodedText> texts) {
        int layers = model.config().numLayers();
        try (NDManager scope = model.manager().newSubManager()) {
            LayerContributions.Internals in = LayerContributions.Internals.of(model, texts, scope);
            NDList raw = new NDList();
            NDList mass = new NDList();
            for (int l = 0; l < layers; l++) {
                NDArray[] layer = contributions(AttentionBlock.of(model, l), in.layerInputs().get(l),
                        in.attentions().get(l), in.mask());
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

    /** A layer's value and output projections and the norm after the residual, in float32. */
    record AttentionBlock(NDArray valueW, NDArray valueB, NDArray outW, NDArray outB, NDArray normW, NDArray normB,
            int heads, double eps) {

        static AttentionBlock of(TransformerModel model, int layer) {
            return new AttentionBlock(LayerContributions.parameter(model, layer, LayerRole.VALUE_W),
                    LayerContributions.parameter(model, layer, LayerRole.VALUE_B),
                    LayerContributions.parameter(model, layer, LayerRole.ATTN_OUT_W),
                    LayerContributions.parameter(model, layer, LayerRole.ATTN_OUT_B),
                    LayerContributions.parameter(model, layer, LayerRole.ATTN_NORM_W),
                    LayerContributions.parameter(model, layer, LayerRole.ATTN_NORM_B), model.config().numHeads(),
                    model.config().layerNormEps());
        }
    }

    /**
     * One layer of B padded samples: the unnormalised contributions c [B, S(i), S(j)] and each head's contribution mass
     * [B, heads] (over the real rows of {@code mask} [B, S]), from the layer's input x [B, S, hidden] and attention
     * [B, heads, S, S]. Query rows are taken in chunks so that the per-head terms [B, heads, rows, S, hidden] stay
     * within {@link #CHUNK_ELEMENTS}. A padded key gets no attention and is not i, so it contributes 0 to a real row.
     */
    static NDArray[] contributions(AttentionBlock b, NDArray x, NDArray attention, NDArray mask) {
        NDManager m = x.getManager();
        long batch = x.getShape().get(0);
        int s = (int) x.getShape().get(1);
        int d = (int) x.getShape().get(2);
        int h = b.heads();
        int dh = d / h;
        // per head, each token's value vector through the head's slice of the output projection: [B, heads, S, hidden]
        NDArray values = x.matMul(b.valueW().transpose()).reshape(batch, s, h, dh).transpose(0, 2, 1, 3);
        NDArray valueOut = values.matMul(b.outW().reshape(d, h, dh).transpose(1, 2, 0));
        // the value bias reaches every token whole (attention rows sum to 1); with the output bias, nobody's
        NDArray bias = b.valueB() == null ? null : b.valueB().reshape(1, d).matMul(b.outW().transpose()).reshape(d);
        if (b.outB() != null) {
            bias = bias == null ? b.outB() : bias.add(b.outB());
        }
        NDArray eye = m.eye(s);
        NDList rows = new NDList();
        NDArray mass = m.zeros(new ai.djl.ndarray.types.Shape(batch, h));
        int chunk = (int) Math.max(1, Math.min(s, CHUNK_ELEMENTS / (batch * h * s * d)));
        for (int from = 0; from < s; from += chunk) {
            int to = Math.min(s, from + chunk);
            try (NDManager pass = m.newSubManager()) {
                String range = from + ":" + to;
                NDArray a = attention.get(":, :, " + range + ", :"); // [B, heads, n, S]
                NDArray diagonal = eye.get(range); // [n, S]
                NDArray real = mask.get(":, " + range); // [B, n]
                for (NDArray t : new NDArray[] {a, diagonal, real}) {
                    t.attach(pass);
                }
                NDArray perHead = a.expandDims(-1).mul(valueOut.expandDims(2)); // [B, heads, n, S(j), hidden]
                NDArray residual = diagonal.expandDims(-1).expandDims(0).mul(x.expandDims(1)); // x_i at j = i
                NDArray terms = perHead.sum(new int[] {1}).add(residual); // T_i(x_j): [B, n, S, hidden]
                NDArray sum = terms.sum(new int[] {2});
                if (bias != null) {
                    sum = sum.add(bias);
                }
                NDArray centred = sum.sub(sum.mean(new int[] {-1}, true));
                NDArray sigma = centred.square().mean(new int[] {-1}, true).add((float) b.eps()).sqrt(); // [B, n, 1]
                NDArray out = centred.div(sigma).mul(b.normW());
                if (b.normB() != null) {
                    out = out.add(b.normB()); // x̃_i, the block's output: [B, n, hidden]
                }
                NDArray outNorm = out.abs().sum(new int[] {-1}); // [B, n]
                NDArray c = proximity(out, outNorm, linearNorm(terms, sigma.expandDims(2), b.normW())); // [B, n, S]
                NDArray cHead = proximity(out.expandDims(1), outNorm.expandDims(1), linearNorm(perHead,
                        sigma.expandDims(1).expandDims(3), b.normW())); // [B, heads, n, S]
                NDArray rowTotal = c.sum(new int[] {-1}); // [B, n]
                NDArray shares = cHead.sum(new int[] {-1}).div(rowTotal.add(rowTotal.eq(0f).toType(
                        rowTotal.getDataType(), false)).expandDims(1)); // [B, heads, n]
                mass = mass.add(shares.mul(real.expandDims(1)).sum(new int[] {-1})); // on mass's manager
                c.attach(m);
                rows.add(c);
            }
        }
        return new NDArray[] {NDArrays.concat(rows, 1), mass.div(mask.sum(new int[] {1}, true))};
    }

    /** L_i(t) = γ ⊙ (t − mean(t)) / σ_i: the norm linearised at the row's σ (broadcast over t's leading axes). */
    private static NDArray linearNorm(NDArray t, NDArray sigma, NDArray gamma) {
        return t.sub(t.mean(new int[] {-1}, true)).div(sigma).mul(gamma);
    }

    /** max(0, ‖x̃_i‖₁ − ‖x̃_i − t_ij‖₁) over the last axis; out [.., n, hidden], parts [.., n, S, hidden]. */
    private static NDArray proximity(NDArray out, NDArray outNorm, NDArray parts) {
        NDArray distance = out.expandDims(-2).sub(parts).abs().sum(new int[] {-1});
        return outNorm.expandDims(-1).sub(distance).maximum(0f);
    }
}
