package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.attribution.MemoryBudget;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.TransformerModel;
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

    @Override
    public List<String> outputs() {
        return List.of("token_scores", "word_scores", "layer_matrices");
    }

    /**
     * The token scores: each layer's distances normalised per row (each token's contributions sum to 1), rolled out
     * through the layers (R = M_L ⋯ M_1), and the row of the token the head reads (the first token's, or the mean of
     * the real tokens' rows where the head pools by mean). They are the same for every target and sum to 1. The
     * per-layer matrices are the normalised distances. The copies of samples of similar length share layer passes.
     */
    @Override
    public List<Decomposition> decompose(TransformerModel model, List<EncodedText> texts, MethodContext context) {
        MemoryBudget budget = MemoryBudget.of(context.options().memoryMb(), context.options().internalBatchSize(),
                model.manager().getDevice());
        ModelConfig c = model.config();
        // a sample's row of the group's forward pass; its copies then go in layer passes of the budget's rows
        return LayerContributions.inPasses(model, texts, context.options(), s -> new long[] {
            MemoryBudget.forwardRowBytes(c, s), 4L * c.numHeads() * s * s}, group -> {
                int longest = group.stream().mapToInt(EncodedText::length).max().orElse(1);
                float[][][][] d = distances(model, group, budget.forwardRows(c, longest));
                List<Decomposition> out = new java.util.ArrayList<>();
                for (int b = 0; b < group.size(); b++) {
                    out.add(scores(model, group.get(b), d[b]));
                }
                return out;
            });
    }

    private static Decomposition scores(TransformerModel model, EncodedText text, float[][][] d) {
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

    /** One sample's distances, in layer passes of at most {@code rowsPerPass} copies. */
    public static float[][][] distances(TransformerModel model, EncodedText text, int rowsPerPass) {
        return distances(model, List.of(text), rowsPerPass)[0];
    }

    /**
     * Per sample and layer the [S][S] matrix of cosine distances: row i (the token whose output changes), column j
     * (the token whose value vector is zeroed). One padded forward pass gives every layer's input; then per layer the
     * copies of all samples (copy (b, j) zeroes sample b's token j) run that layer alone in passes of at most
     * {@code rowsPerPass} rows, padded to the pass's longest sample (padded keys get no attention).
     */
    public static float[][][][] distances(TransformerModel model, List<EncodedText> texts, int rowsPerPass) {
        int layers = model.config().numLayers();
        long pad = model.config().padTokenId();
        int rows = Math.max(1, rowsPerPass);
        List<int[]> copies = new java.util.ArrayList<>(); // (sample, zeroed token)
        float[][][][] out = new float[texts.size()][][][];
        for (int b = 0; b < texts.size(); b++) {
            int s = texts.get(b).length();
            out[b] = new float[layers][s][s];
            for (int j = 0; j < s; j++) {
                copies.add(new int[] {b, j});
            }
        }
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult base = model.forward(EncodedBatch.ofTexts(texts, pad), new ForwardOptions()
                    .keepHiddenStates(), scope);
            for (int layer = 0; layer < layers; layer++) {
                for (int from = 0; from < copies.size(); from += rows) {
                    List<int[]> pass = copies.subList(from, Math.min(copies.size(), from + rows));
                    int length = pass.stream().mapToInt(c -> texts.get(c[0]).length()).max().orElse(1);
                    try (NDManager passScope = scope.newSubManager()) {
                        float[] keep = new float[pass.size() * length];
                        java.util.Arrays.fill(keep, 1f);
                        List<EncodedText> passTexts = new java.util.ArrayList<>();
                        NDList original = new NDList();
                        NDList input = new NDList();
                        for (int r = 0; r < pass.size(); r++) {
                            int b = pass.get(r)[0];
                            keep[r * length + pass.get(r)[1]] = 0f; // copy (b, j) without token j's value vector
                            passTexts.add(texts.get(b));
                            original.add(base.hiddenStates().get(layer).get(b + ", :" + length));
                            // layer 0 starts from the embeddings (and any projection), later ones from the previous output
                            if (layer > 0) {
                                input.add(base.hiddenStates().get(layer - 1).get(b + ", :" + length));
                            }
                        }
                        NDArray originals = NDArrays.stack(original).toType(DataType.FLOAT32, false);
                        originals.attach(passScope);
                        NDArray inputs = layer == 0 ? null : NDArrays.stack(input);
                        if (inputs != null) {
                            inputs.attach(passScope);
                        }
                        original.close();
                        input.close();
                        // the layer's own output (hidden state 0 of this run): for the last layer, before a final norm
                        ForwardResult zeroed = model.forward(EncodedBatch.ofTexts(passTexts, pad), new ForwardOptions()
                                .layers(layer, layer, inputs).valueKeep(layer, passScope.create(keep,
                                        new ai.djl.ndarray.types.Shape(pass.size(), length))).keepHiddenStates(),
                                passScope);
                        float[] distance = cosineDistances(zeroed.hiddenStates().get(0), originals);
                        for (int r = 0; r < pass.size(); r++) {
                            int b = pass.get(r)[0];
                            int j = pass.get(r)[1];
                            for (int i = 0; i < texts.get(b).length(); i++) {
                                out[b][layer][i][j] = distance[r * length + i];
                            }
                        }
                    }
                }
            }
        }
        return out;
    }

    /**
     * The cosine distance 1 − cos per row and position of zeroed and original [rows, S, hidden], as ½‖x/‖x‖ − y/‖y‖‖²
     * (the same value): 1 − cos in float32 cancels where the distances are tiny, the difference of unit vectors
     * does not. [rows × S] on the host.
     */
    private static float[] cosineDistances(NDArray zeroed, NDArray o) {
        NDArray z = zeroed.toType(DataType.FLOAT32, false);
        NDArray difference = z.div(z.norm(new int[] {-1}, true)).sub(o.div(o.norm(new int[] {-1}, true)));
        return difference.square().sum(new int[] {-1}).mul(0.5f).toFloatArray();
    }
}
