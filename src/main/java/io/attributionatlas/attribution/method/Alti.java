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

    @Override
    public Decomposition decompose(TransformerModel model, EncodedText text, MethodContext context) {
        int layers = model.config().numLayers();
        try (NDManager scope = model.manager().newSubManager()) {
            LayerContributions.Internals in = LayerContributions.Internals.of(model, text, scope);
            NDList raw = new NDList();
            float[][] headMass = new float[layers][];
            for (int l = 0; l < layers; l++) {
                NDArray[] layer = contributions(AttentionBlock.of(model, l), in.layerInputs().get(l),
                        in.attentions().get(l));
                raw.add(layer[0]);
                headMass[l] = layer[1].toFloatArray();
            }
            NDArray normalised = LayerContributions.normaliseRows(NDArrays.stack(raw));
            float[] scores = LayerContributions.pooledRow(LayerContributions.rollout(normalised),
                    model.config().family().poolsMean(model.config()));
            return Decomposition.same(MethodScores.ofDecomposition(NAME, scores, text.words(), 1, headMass,
                    LayerContributions.toHost(normalised)));
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
     * One layer: the unnormalised contributions c [S(i), S(j)] and each head's contribution mass [heads], from the
     * layer's input x [S, hidden] and attention [heads, S, S]. Query rows are taken in chunks so that the per-head
     * terms [heads, rows, S, hidden] stay within {@link #CHUNK_ELEMENTS}.
     */
    static NDArray[] contributions(AttentionBlock b, NDArray x, NDArray attention) {
        NDManager m = x.getManager();
        int s = (int) x.getShape().get(0);
        int d = (int) x.getShape().get(1);
        int h = b.heads();
        int dh = d / h;
        // per head, each token's value vector through the head's slice of the output projection: [heads, S, hidden]
        NDArray values = x.matMul(b.valueW().transpose()).reshape(s, h, dh).transpose(1, 0, 2);
        NDArray valueOut = values.matMul(b.outW().reshape(d, h, dh).transpose(1, 2, 0));
        // the value bias reaches every token whole (attention rows sum to 1); with the output bias, nobody's
        NDArray bias = b.valueB() == null ? null : b.valueB().reshape(1, d).matMul(b.outW().transpose()).reshape(d);
        if (b.outB() != null) {
            bias = bias == null ? b.outB() : bias.add(b.outB());
        }
        NDArray eye = m.eye(s);
        NDList rows = new NDList();
        NDArray mass = m.zeros(new ai.djl.ndarray.types.Shape(h));
        int chunk = (int) Math.max(1, Math.min(s, CHUNK_ELEMENTS / ((long) h * s * d)));
        for (int from = 0; from < s; from += chunk) {
            int to = Math.min(s, from + chunk);
            try (NDManager pass = m.newSubManager()) {
                NDArray a = attention.get(":, " + from + ":" + to + ", :"); // [heads, n, S]
                a.attach(pass);
                NDArray perHead = a.expandDims(-1).mul(valueOut.expandDims(1)); // [heads, n, S(j), hidden]
                NDArray diagonal = eye.get(from + ":" + to);
                diagonal.attach(pass);
                NDArray residual = diagonal.expandDims(-1).mul(x.expandDims(0)); // x_i at j = i
                NDArray terms = perHead.sum(new int[] {0}).add(residual); // T_i(x_j): [n, S, hidden]
                NDArray sum = terms.sum(new int[] {1});
                if (bias != null) {
                    sum = sum.add(bias);
                }
                NDArray centred = sum.sub(sum.mean(new int[] {-1}, true));
                NDArray sigma = centred.square().mean(new int[] {-1}, true).add((float) b.eps()).sqrt(); // [n, 1]
                NDArray out = centred.div(sigma).mul(b.normW());
                if (b.normB() != null) {
                    out = out.add(b.normB()); // x̃_i, the block's output: [n, hidden]
                }
                NDArray outNorm = out.abs().sum(new int[] {-1}); // [n]
                NDArray c = proximity(out, outNorm, linearNorm(terms, sigma.expandDims(1), b.normW())); // [n, S]
                NDArray cHead = proximity(out.expandDims(0), outNorm.expandDims(0),
                        linearNorm(perHead, sigma.expandDims(0).expandDims(2), b.normW())); // [heads, n, S]
                NDArray rowTotal = c.sum(new int[] {-1}); // [n]
                NDArray shares = cHead.sum(new int[] {-1}).div(rowTotal.add(rowTotal.eq(0f).toType(
                        rowTotal.getDataType(), false))); // [heads, n]
                mass = mass.add(shares.sum(new int[] {1})); // on mass's manager, which outlives the chunk
                c.attach(m);
                rows.add(c);
            }
        }
        return new NDArray[] {NDArrays.concat(rows, 0), mass.div((float) s)};
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
