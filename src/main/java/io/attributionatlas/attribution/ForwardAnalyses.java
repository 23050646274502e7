package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;

/**
 * Analyses of one forward pass at the input: vector norms (Kobayashi et al. 2020) and attention
 * rollout (Abnar and Zuidema 2020). Operates on one sample's real tokens (padding sliced away).
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
            NDArray copy = manager.create(w.toFloatArray(), w.getShape());
            headOutputWeights.add(copy.reshape(hidden, heads, headSize).transpose(1, 2, 0));
        }
    }

    /** Norms of one sample (row {@code b}, real length {@code n}) at layer {@code l}: fx [H][n], αfx [H][n][n], Σ_h αfx [n][n]. */
    NDArray[] norms(NDArray attention, NDArray values, int layer, int b, int n) {
        NDArray alpha = attention.get(new NDIndex("{}, :, :{}, :{}", b, n, n)); // [H, n, n]
        NDArray f = values.get(new NDIndex("{}, :, :{}", b, n)).matMul(headOutputWeights.get(layer)); // [H, n, hidden]
        NDArray fx = f.square().sum(new int[] {-1}).sqrt(); // [H, n]
        long heads = fx.getShape().get(0);
        NDArray alphaFx = alpha.mul(fx.reshape(heads, 1, n)); // α ≥ 0, so ‖α f‖ = α ‖f‖
        // ‖Σ_h α_hij f_h(x_j)‖² = α_ijᵀ G_j α_ij with the per-key Gram matrix G_j[h, h'] = f_h(x_j) · f_h'(x_j):
        // [n, n, H] intermediates instead of [n, n, hidden] (400 MB a layer at 512 tokens).
        NDArray perKey = f.transpose(1, 0, 2); // [j, H, hidden]
        NDArray gram = perKey.matMul(perKey.transpose(0, 2, 1)); // [j, H, H]
        NDArray a = alpha.transpose(2, 1, 0); // [j, i, H]
        NDArray squared = a.matMul(gram).mul(a).sum(new int[] {-1}); // [j, i]
        NDArray sumAlphaFx = squared.maximum(0f).sqrt().transpose(); // [i, j]; rounding can dip below 0
        return new NDArray[] {fx, alphaFx, sumAlphaFx};
    }

    /** Rollout over layers of (mean over heads + I), row-normalised; attentions sliced to [H, n, n]. */
    static NDArray rollout(List<NDArray> attentions, int b, int n) {
        NDArray result = null;
        for (NDArray a : attentions) {
            NDArray mean = a.get(new NDIndex("{}, :, :{}, :{}", b, n, n)).mean(new int[] {0});
            NDArray withResidual = mean.add(mean.getManager().eye(n, n, 0, DataType.FLOAT32));
            NDArray normalised = withResidual.div(withResidual.sum(new int[] {-1}, true));
            result = result == null ? normalised : normalised.matMul(result);
        }
        return result;
    }

    @Override
    public void close() {
        manager.close();
    }
}
