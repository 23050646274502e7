package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import java.util.Map;

/**
 * The tensor operations an {@link EncoderFamily} builds its parts from, bound to one loaded model: its config,
 * its compute precision and its global parameters. Every op allocates on its inputs' manager (the batch's).
 */
public final class EncoderOps {

    private final ModelConfig config;
    private final Precision precision;
    private final Map<ParameterRole, NDArray> globals;
    /** The bias of a norm stored without one (ModernBERT's norm_bias false). */
    private final NDArray zeroBias;

    EncoderOps(ModelConfig config, Precision precision, Map<ParameterRole, NDArray> globals, NDArray zeroBias) {
        this.config = config;
        this.precision = precision;
        this.globals = globals;
        this.zeroBias = zeroBias;
    }

    public ModelConfig config() {
        return config;
    }

    public Precision precision() {
        return precision;
    }

    /** A global (embedding, head or family) parameter, or null where the model has none. */
    public NDArray global(ParameterRole role) {
        return globals.get(role);
    }

    /** x·Wᵀ + b; without b where the model has none (ModernBERT). */
    public static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return bias == null ? x.matMul(weight.transpose()) : Linear.linear(x, weight, bias).singletonOrThrow();
    }

    /** The linear layer of two global roles. */
    public NDArray linear(NDArray x, ParameterRole weight, ParameterRole bias) {
        return linear(x, globals.get(weight), globals.get(bias));
    }

    /** Layer norm with the config's ε; a missing β is zero. */
    public NDArray layerNorm(NDArray x, NDArray gamma, NDArray beta) {
        return LayerNorm.layerNorm(x, gamma.getShape(), gamma, beta != null ? beta : zeroBias,
                config.layerNormEps()).singletonOrThrow();
    }

    /** The layer norm of two global roles. */
    public NDArray layerNorm(NDArray x, ParameterRole gamma, ParameterRole beta) {
        return layerNorm(x, globals.get(gamma), globals.get(beta));
    }

    public static NDArray lookup(NDArray ids, NDArray table) {
        return Embedding.embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    /** [batch, S, hidden] → [batch, heads, S, head size]. */
    public NDArray splitHeads(NDArray x) {
        Shape shape = x.getShape();
        return x.reshape(shape.get(0), shape.get(1), config.numHeads(), config.headSize()).transpose(0, 2, 1, 3);
    }

    /** [2·span or rows, hidden] → [heads, rows, head size]: a table projected per head (relative positions). */
    public NDArray tableHeads(NDArray x) {
        return x.reshape(x.getShape().get(0), config.numHeads(), config.headSize()).transpose(1, 0, 2);
    }

    /** A tensor of the compute type from float32 values built on the host (a pass's position tables). */
    public NDArray constant(NDManager batchManager, float[] values, Shape shape) {
        return batchManager.create(values, shape).toType(precision.computeType(), false);
    }

    /**
     * The post-norm layer after attention (BERT and most families): residual + norm, the feed-forward block,
     * residual + norm.
     */
    public NDArray postNormTail(Map<ParameterRole, NDArray> w, NDArray attnDense, NDArray x) {
        NDArray attnResidual = release(attnDense, attnDense.add(x));
        NDArray attnOut = release(attnResidual, layerNorm(attnResidual, w.get(LayerRole.ATTN_NORM_W),
                w.get(LayerRole.ATTN_NORM_B)));
        NDArray ffnIn = linear(attnOut, w.get(LayerRole.FFN_IN_W), w.get(LayerRole.FFN_IN_B));
        NDArray ffn = release(ffnIn, config.activation().apply(ffnIn));
        NDArray ffnOut = release(ffn, linear(ffn, w.get(LayerRole.FFN_OUT_W), w.get(LayerRole.FFN_OUT_B)));
        NDArray ffnResidual = release(attnOut, release(ffnOut, ffnOut.add(attnOut)));
        return release(ffnResidual, layerNorm(ffnResidual, w.get(LayerRole.OUT_NORM_W), w.get(LayerRole.OUT_NORM_B)));
    }

    /**
     * Closes the Java handle of an intermediate nothing else uses and returns {@code result}. Autograd holds
     * its own reference to what the backward pass needs, so this frees the rest now instead of when the
     * batch's manager closes: the difference between gigabytes and megabytes at 512 tokens.
     */
    public static NDArray release(NDArray intermediate, NDArray result) {
        intermediate.close();
        return result;
    }
}
