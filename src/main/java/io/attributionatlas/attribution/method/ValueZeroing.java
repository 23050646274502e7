package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import ai.djl.ndarray.NDManager;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.TransformerModel;
import java.util.Collections;
import java.util.List;

/**
 * Value Zeroing (Mohebbi et al., EACL 2023): in each layer, token j's value vector is zeroed in every head and the
 * layer is run again from its original input; token i's contribution from j is the cosine distance between i's
 * original layer output and its output with j's value zeroed. Forward passes only: per layer one batched pass of
 * that layer alone over S copies of the sample (copy j zeroes token j), from one forward pass's hidden states.
 */
public final class ValueZeroing extends NamedMethod {

    public static final String NAME = "value_zeroing";

    public ValueZeroing() {
        super(NAME, "Mohebbi et al. 2023: each token's value vector zeroed in each layer, cosine distance of the "
                + "layer's outputs, rolled out to the pooled token (the same scores for every target)", Passes.FORWARD);
    }

    /**
     * The token scores: each layer's distances normalised per row (each token's contributions sum to 1), rolled out
     * through the layers (R = M_L ⋯ M_1), and the row of the token the head reads (the first token's, or the mean of
     * the real tokens' rows where the head pools by mean). They are the same for every target and sum to 1. The
     * per-layer matrices are the normalised distances.
     */
    /** Sample by sample: each sample's S copies are what its layer passes batch. */
    @Override
    public List<Decomposition> decompose(TransformerModel model, List<EncodedText> texts, MethodContext context) {
        return texts.stream().map(text -> decompose(model, text, context)).toList();
    }

    private static Decomposition decompose(TransformerModel model, EncodedText text, MethodContext context) {
        int rows = io.attributionatlas.attribution.MemoryBudget.of(context.options().memoryMb(),
                context.options().internalBatchSize(), model.manager().getDevice()).forwardRows(model.config(),
                        text.length());
        float[][][] d = distances(model, text, rows);
        try (NDManager scope = model.manager().newSubManager()) {
            NDArray normalised = LayerContributions.normaliseRows(LayerContributions.fromHost(scope, d)
                    .expandDims(0)); // [1, L, S, S]
            int s = text.length();
            float[] scores = LayerContributions.pooledRows(LayerContributions.rollout(normalised),
                    scope.ones(new ai.djl.ndarray.types.Shape(1, s)), new int[] {s},
                    model.config().family().poolsMean(model.config()))[0];
            return Decomposition.same(MethodScores.ofDecomposition(NAME, scores, text.words(), 1 + (long) d.length,
                    null, LayerContributions.toHost(normalised, 0, s)));
        }
    }

    /**
     * Per layer the [S][S] matrix of cosine distances: row i (the token whose output changes), column j (the token
     * whose value vector is zeroed).
     */
    public static float[][][] distances(TransformerModel model, EncodedText text, int rowsPerPass) {
        int s = text.length();
        int layers = model.config().numLayers();
        long pad = model.config().padTokenId();
        float[][][] out = new float[layers][s][s];
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult base = model.forward(EncodedBatch.ofTexts(List.of(text), pad),
                    new ForwardOptions().keepHiddenStates(), scope);
            NDArray keepAll = scope.eye(s).neg().add(1f); // copy j without token j's value vector
            for (int layer = 0; layer < layers; layer++) {
                NDArray original = base.hiddenStates().get(layer).toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
                // the copies in passes of at most rowsPerPass rows (the memory budget's, for this length)
                for (int from = 0; from < s; from += Math.max(1, rowsPerPass)) {
                    int to = Math.min(s, from + Math.max(1, rowsPerPass));
                    try (NDManager pass = scope.newSubManager()) {
                        // layer 0 starts from the embeddings (and any projection), later ones from the previous output
                        NDArray input = layer == 0 ? null : base.hiddenStates().get(layer - 1).repeat(0, to - from);
                        NDArray keep = keepAll.get(from + ":" + to);
                        // the layer's own output (hidden state 0 of this run): for the last layer, before a final norm
                        ForwardResult zeroed = model.forward(EncodedBatch.ofTexts(Collections.nCopies(to - from, text),
                                pad), new ForwardOptions().layers(layer, layer, input).valueKeep(layer, keep)
                                        .keepHiddenStates(), pass);
                        cosineDistances(zeroed.hiddenStates().get(0), original, from, out[layer]);
                    }
                }
            }
        }
        return out;
    }

    /** zeroed [copies j = from…, S(i), d] against original [1, S(i), d]: out[i][j] = 1 − cos. */
    private static void cosineDistances(NDArray zeroed, NDArray o, int from, float[][] out) {
        NDArray z = zeroed.toType(ai.djl.ndarray.types.DataType.FLOAT32, false);
        NDArray cos = z.mul(o).sum(new int[] {-1}).div(z.norm(new int[] {-1}).mul(o.norm(new int[] {-1})));
        int copies = (int) cos.getShape().get(0);
        int s = (int) cos.getShape().get(1);
        float[] flat = cos.neg().add(1f).toFloatArray(); // [j - from][i]
        for (int j = 0; j < copies; j++) {
            for (int i = 0; i < s; i++) {
                out[i][from + j] = flat[j * s + i];
            }
        }
    }
}
