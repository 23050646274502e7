package io.attributionatlas.attribution.method;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.ParameterRole;
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
     * One sample's forward pass, kept: per layer its input [S, hidden] (the projected embeddings for layer 0) and
     * attention [heads, S, S], its layer outputs and its head outputs, all float32, in {@code scope}.
     */
    record Internals(List<NDArray> layerInputs, List<NDArray> attentions, List<NDArray> layerOutputs,
            ForwardResult result) {

        static Internals of(TransformerModel model, EncodedText text, NDManager scope) {
            ForwardResult r = model.forward(EncodedBatch.ofTexts(List.of(text), model.config().padTokenId()),
                    new ForwardOptions().keepHiddenStates().keepAttentions(), scope);
            List<NDArray> inputs = new ArrayList<>();
            List<NDArray> attentions = new ArrayList<>();
            List<NDArray> outputs = new ArrayList<>();
            inputs.add(float32(model.firstLayerInput(r.embeddingOutput()).get(0)));
            for (int l = 0; l < r.hiddenStates().size(); l++) {
                outputs.add(float32(r.hiddenStates().get(l).get(0)));
                attentions.add(float32(r.attentions().get(l).get(0)));
                if (l + 1 < r.hiddenStates().size()) {
                    inputs.add(outputs.get(l));
                }
            }
            return new Internals(inputs, attentions, outputs, r);
        }
    }

    static NDArray float32(NDArray a) {
        return a.toType(DataType.FLOAT32, false);
    }

    /** A layer's parameter in float32, or null where the model has none (a bias it stores without). */
    static NDArray parameter(TransformerModel model, int layer, ParameterRole role) {
        NDArray p = model.layerParameter(layer, role);
        return p == null ? null : float32(p);
    }

    /** A global (embedding or head) parameter in float32, or null. */
    static NDArray parameter(TransformerModel model, ParameterRole role) {
        NDArray p = model.globalParameter(role);
        return p == null ? null : float32(p);
    }

    /**
     * [L, S, S] contributions, clipped at zero, each row divided by its sum: row i is how token i's representation
     * at that layer divides among the layer's input tokens. A row of zeros keeps the token itself.
     */
    static NDArray normaliseRows(NDArray contributions) {
        NDArray clipped = contributions.maximum(0f);
        NDArray total = clipped.sum(new int[] {-1}, true);
        long s = contributions.getShape().get(1);
        NDArray empty = total.eq(0f).toType(DataType.FLOAT32, false);
        NDArray eye = contributions.getManager().eye((int) s).expandDims(0);
        return clipped.add(eye.mul(empty)).div(total.add(empty));
    }

    /** R = M_L ⋯ M_1 over [L, S, S] normalised matrices: [i][j] is token j's share in token i at the top. */
    static NDArray rollout(NDArray normalised) {
        long layers = normalised.getShape().get(0);
        NDArray r = normalised.get(0);
        for (int l = 1; l < layers; l++) {
            r = normalised.get(l).matMul(r);
        }
        return r;
    }

    /**
     * The rollout's row of the token the head reads: the first token's ([CLS], &lt;s&gt;), or the mean of every
     * token's row where the head pools by mean. The shares sum to 1.
     */
    static float[] pooledRow(NDArray rollout, boolean mean) {
        return (mean ? rollout.mean(new int[] {0}) : rollout.get(0)).toFloatArray();
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
