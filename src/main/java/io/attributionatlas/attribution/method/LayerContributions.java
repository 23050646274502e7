package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;

/**
 * What the decomposition methods (Value Zeroing, ALTI, DecompX) share: one forward pass's layer inputs and
 * attention in float32, and the rollout of per-layer token-to-token contributions (rows clipped at zero and
 * normalised, multiplied through the layers, R = M_L ⋯ M_1) read at the token the head reads. Tensor ops on the
 * model's device; only [L][S][S] and [S] come back to the host.
 */
final class LayerContributions {

    private LayerContributions() {
    }

    /**
     * One padded forward pass over samples, kept: per layer its input [B, S, hidden] (the projected embeddings for
     * layer 0) and attention [B, heads, S, S], its layer outputs, and the mask [B, S] (1 at real tokens), all float32
     * in {@code scope}; {@code lengths} are the samples' own. Padded keys get exactly zero attention, so a real token's
     * decomposition never reads a padded one.
     */
    record Internals(List<NDArray> layerInputs, List<NDArray> attentions, List<NDArray> layerOutputs, NDArray mask,
            int[] lengths, ForwardResult result) {

        static Internals of(TransformerModel model, List<EncodedText> texts, NDManager scope) {
            return of(model, texts, scope, false);
        }

        /** With {@code keepValues}, also every layer's value vectors [B, heads, S, head size] ({@link #values}). */
        static Internals of(TransformerModel model, List<EncodedText> texts, NDManager scope, boolean keepValues) {
            EncodedBatch batch = EncodedBatch.ofTexts(texts, model.config().padTokenId());
            NDArray mask = scope.create(batch.mask(), new ai.djl.ndarray.types.Shape(batch.batchSize(),
                    batch.seqLen()));
            ForwardOptions options = new ForwardOptions().mask(mask).keepHiddenStates().keepAttentions();
            ForwardResult r = model.forward(batch, keepValues ? options.keepValues() : options, scope);
            List<NDArray> inputs = new ArrayList<>();
            List<NDArray> attentions = new ArrayList<>();
            List<NDArray> outputs = new ArrayList<>();
            inputs.add(float32(model.firstLayerInput(r.embeddingOutput())));
            for (int l = 0; l < r.hiddenStates().size(); l++) {
                outputs.add(float32(r.hiddenStates().get(l)));
                attentions.add(float32(r.attentions().get(l)));
                if (l + 1 < r.hiddenStates().size()) {
                    inputs.add(outputs.get(l));
                }
            }
            return new Internals(inputs, attentions, outputs, float32(mask), texts.stream()
                    .mapToInt(EncodedText::length).toArray(), r);
        }

        /** Each layer's value vectors, where they were kept. */
        List<NDArray> values() {
            return result.values();
        }
    }

    /**
     * Runs {@code pass} over the texts in passes of samples of similar length (sorted by length, as many as the memory
     * budget allows for the pass's longest: {@code bytesPerSample} gives a sample's bytes in all and those of its
     * largest tensor at a length) and returns its results in the texts' order.
     */
    static <T> List<T> inPasses(TransformerModel model, List<EncodedText> texts,
            io.attributionatlas.attribution.AttributionOptions options, java.util.function.IntFunction<long[]> bytesPerSample,
            java.util.function.Function<List<EncodedText>, List<T>> pass) {
        io.attributionatlas.attribution.MemoryBudget budget = io.attributionatlas.attribution.MemoryBudget.of(
                options.memoryMb(), options.internalBatchSize(), model.manager().getDevice());
        Integer[] order = new Integer[texts.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        java.util.Arrays.sort(order, java.util.Comparator.comparingInt(i -> -texts.get(i).length()));
        List<T> out = new ArrayList<>(java.util.Collections.nCopies(texts.size(), null));
        for (int from = 0; from < order.length; ) {
            long[] need = bytesPerSample.apply(texts.get(order[from]).length());
            int samples = budget.samples(need[0], need[1]);
            int to = Math.min(order.length, from + samples);
            List<EncodedText> group = new ArrayList<>();
            for (int k = from; k < to; k++) {
                group.add(texts.get(order[k]));
            }
            List<T> results = pass.apply(group);
            for (int k = from; k < to; k++) {
                out.set(order[k], results.get(k - from));
            }
            from = to;
        }
        return out;
    }

    static NDArray float32(NDArray a) {
        return a.toType(DataType.FLOAT32, false);
    }

    /**
     * A parameter in float32 as an op's second operand: the model's own tensor where it computes in float32, else a
     * converted copy owned by {@code scope}. Never an op's first operand: a result lives on its first operand's
     * manager, and on the model's it would live as long as the model.
     */
    static NDArray operand(NDArray p, NDManager scope) {
        if (p == null || p.getDataType() == DataType.FLOAT32) {
            return p;
        }
        NDArray copy = p.toType(DataType.FLOAT32, true);
        copy.attach(scope);
        return copy;
    }

    /** A weight's transpose (a view) in float32, owned by {@code scope}. */
    static NDArray transposed(NDArray p, NDManager scope) {
        NDArray t = operand(p, scope).transpose();
        t.attach(scope);
        return t;
    }

    /**
     * What the attention block adds to every token besides the tokens' terms: the value bias, which reaches each token
     * whole (attention rows sum to 1), through the output projection ({@code outT}, transposed), and the output bias;
     * null where the model has neither.
     */
    static NDArray attentionBias(TransformerModel model, int layer, NDArray outT, NDManager scope) {
        NDArray valueB = operand(model.layerParameter(layer, LayerRole.VALUE_B), scope);
        NDArray outB = operand(model.layerParameter(layer, LayerRole.ATTN_OUT_B), scope);
        NDArray bias = null;
        if (valueB != null) {
            NDArray row = valueB.reshape(1, valueB.size());
            row.attach(scope);
            bias = row.matMul(outT).reshape(valueB.size());
        }
        if (outB != null) {
            bias = bias == null ? outB : bias.add(outB);
        }
        return bias;
    }

    /**
     * [L, S, S] contributions, clipped at zero, each row divided by its sum: row i is how token i's representation
     * at that layer divides among the layer's input tokens. A row of zeros keeps the token itself.
     */
    static NDArray normaliseRows(NDArray contributions) {
        NDArray clipped = contributions.maximum(0f);
        NDArray total = clipped.sum(new int[] {-1}, true);
        long s = contributions.getShape().get(contributions.getShape().dimension() - 1);
        NDArray empty = total.eq(0f).toType(DataType.FLOAT32, false);
        NDArray eye = contributions.getManager().eye((int) s).expandDims(0);
        return clipped.add(eye.mul(empty)).div(total.add(empty));
    }

    /** R = M_L ⋯ M_1 over [B, L, S, S] normalised matrices: [b][i][j] is token j's share in token i at the top. */
    static NDArray rollout(NDArray normalised) {
        long layers = normalised.getShape().get(1);
        NDArray r = normalised.get(":, 0");
        for (int l = 1; l < layers; l++) {
            r = normalised.get(":, " + l).matMul(r);
        }
        return r;
    }

    /**
     * Each sample's rollout row of the token the head reads: the first token's ([CLS], &lt;s&gt;), or the mean of its
     * real tokens' rows where the head pools by mean. The shares sum to 1. {@code rollout} [B, S, S], mask [B, S].
     */
    static float[][] pooledRows(NDArray rollout, NDArray mask, int[] lengths, boolean mean) {
        NDArray rows = mean ? rollout.mul(mask.expandDims(-1)).sum(new int[] {1}).div(mask.sum(new int[] {1}, true))
                : rollout.get(":, 0");
        float[] flat = rows.toFloatArray();
        int s = (int) rollout.getShape().get(1);
        float[][] out = new float[lengths.length][];
        for (int b = 0; b < lengths.length; b++) {
            out[b] = java.util.Arrays.copyOfRange(flat, b * s, b * s + lengths[b]);
        }
        return out;
    }

    /** Sample b's [L, S, S] of a [B, L, S, S] batch, cut to its own length, on the host. */
    static float[][][] toHost(NDArray matrices, int b, int length) {
        return toHost(matrices.get(b + ", :, :" + length + ", :" + length));
    }

    /** [L, S, S] on the host. */
    static float[][][] toHost(NDArray matrices) {
        int layers = (int) matrices.getShape().get(0);
        int s = (int) matrices.getShape().get(1);
        float[] flat = matrices.toFloatArray();
        float[][][] out = new float[layers][s][s];
        for (int l = 0; l < layers; l++) {
            for (int i = 0; i < s; i++) {
                System.arraycopy(flat, (l * s + i) * s, out[l][i], 0, s);
            }
        }
        return out;
    }

    /** [L][S][S] from the host to {@code manager}'s device. */
    static NDArray fromHost(NDManager manager, float[][][] matrices) {
        int layers = matrices.length;
        int s = matrices[0].length;
        float[] flat = new float[layers * s * s];
        for (int l = 0; l < layers; l++) {
            for (int i = 0; i < s; i++) {
                System.arraycopy(matrices[l][i], 0, flat, (l * s + i) * s, s);
            }
        }
        return manager.create(flat, new ai.djl.ndarray.types.Shape(layers, s, s));
    }
}
