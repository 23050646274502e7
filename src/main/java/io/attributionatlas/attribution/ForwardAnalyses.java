package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.Scalars;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;

/**
 * Analyses of one forward pass at the input, for all of its rows at once: vector norms (Kobayashi et al. 2020)
 * and attention rollout (Abnar and Zuidema 2020). Rows are padded to the pass's length; padded keys have zero
 * attention, so each sample's real block [:n, :n] equals the analysis of the sample alone.
 */
final class ForwardAnalyses implements AutoCloseable {

    private final NDManager manager;
    /** Per layer, W_O split by head: {@code [heads, head_size, hidden]}, so f_h(x) = v_h · W_O^h. */
    private final List<NDArray> headOutputWeights = new ArrayList<>();

    ForwardAnalyses(TransformerModel model) {
        manager = model.manager().newSubManager();
        int heads = model.config().numHeads();
        int headSize = model.config().headSize();
        int hidden = model.config().hiddenSize();
        for (int l = 0; l < model.config().numLayers(); l++) {
            NDArray w = model.layerParameter(l, LayerRole.ATTN_OUT_W); // [hidden_out, heads*head_size]
            NDArray copy = w.toType(DataType.FLOAT32, true);
            copy.attach(manager);
            headOutputWeights.add(copy.reshape(hidden, heads, headSize).transpose(1, 2, 0));
        }
    }

    /** Receives one layer's norms of all rows; they are freed when it returns, unless it unregisters them. */
    interface LayerNorms {
        void accept(int layer, NDArray fx, NDArray alphaFx, NDArray sumAlphaFx);
    }

    /**
     * Computes every layer's norms of all rows, one layer at a time, and hands them to {@code sink}: ‖f_h(x_j)‖
     * [B, H, S], ‖α_ij f_h(x_j)‖ [B, H, S, S] and ‖Σ_h α_ij f_h(x_j)‖ [B, S, S] (value bias in, output bias out).
     * A layer's intermediates are freed before the next's.
     */
    void norms(ForwardResult r, LayerNorms sink) {
        for (int l = 0; l < headOutputWeights.size(); l++) {
            try (NDScope layer = new NDScope()) {
                // in float32 whatever the model computes in
                NDArray alpha = r.attentions().get(l).toType(DataType.FLOAT32, false); // [B, H, S, S]
                NDArray f = r.values().get(l).toType(DataType.FLOAT32, false).matMul(headOutputWeights.get(l));
                NDArray fx = f.square().sum(new int[] {-1}).sqrt(); // [B, H, S]
                long[] s = alpha.getShape().getShape();
                NDArray alphaFx = alpha.mul(fx.reshape(s[0], s[1], 1, s[3])); // α ≥ 0, so ‖α f‖ = α ‖f‖
                // ‖Σ_h α_hij f_h(x_j)‖² = α_ijᵀ G_j α_ij with the per-key Gram matrix G_j[h, h'] = f_h(x_j) · f_h'(x_j):
                // [S, S, H] intermediates instead of [S, S, hidden] (400 MB a layer at 512 tokens).
                NDArray perKey = f.transpose(0, 2, 1, 3); // [B, j, H, hidden]
                NDArray gram = perKey.matMul(perKey.transpose(0, 1, 3, 2)); // [B, j, H, H]
                NDArray a = alpha.transpose(0, 3, 2, 1); // [B, j, i, H]
                NDArray squared = a.matMul(gram).mul(a).sum(new int[] {-1}); // [B, j, i]
                // rounding can dip below 0
                NDArray sumAlphaFx = squared.maximum(Scalars.of(squared, 0f)).sqrt().transpose(0, 2, 1); // [B, i, j]
                sink.accept(l, fx, alphaFx, sumAlphaFx);
            }
        }
    }

    /** Rollout [B, S, S] over layers of (mean over heads + I), row-normalised. */
    static NDArray rollout(List<NDArray> attentions) {
        NDArray result = null;
        try (NDScope scope = new NDScope()) {
            for (NDArray a : attentions) {
                NDArray mean = a.toType(DataType.FLOAT32, false).mean(new int[] {1}); // [B, S, S]
                int s = (int) mean.getShape().get(2);
                NDArray withResidual = mean.add(mean.getManager().eye(s, s, 0, DataType.FLOAT32));
                NDArray normalised = withResidual.div(withResidual.sum(new int[] {-1}, true));
                result = result == null ? normalised : normalised.matMul(result);
            }
            NDScope.unregister(result);
        }
        return result;
    }

    @Override
    public void close() {
        manager.close();
    }
}
