package io.attributionatlas.model.family;

import static io.attributionatlas.model.EncoderOps.release;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ConfigFields;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.EncoderOps;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;
import io.attributionatlas.model.ParameterLayout;
import io.attributionatlas.model.ParameterRole;
import io.attributionatlas.model.Task;
import java.util.Map;

/**
 * ModernBERT: pre-norm layers without biases, fused QKV, RoPE with a global and a local θ, sliding-window attention
 * on the local layers, GeGLU MLP, final norm, mean or CLS pooling head. Its parameters use the post-norm families'
 * layer roles: ATTN_NORM is the norm before attention (absent in layer 0, where transformers has an identity),
 * OUT_NORM the norm before the MLP, FFN_IN GeGLU's [2·intermediate, hidden] projection; biases only where
 * config.json says so.
 */
public final class ModernBert implements EncoderFamily {

    /** The fused projection, the final norm and the head's norm. */
    enum Parameter implements ParameterRole { QKV_W, QKV_B, FINAL_NORM_W, FINAL_NORM_B, HEAD_NORM_W, HEAD_NORM_B }

    /**
     * Which layers use sliding-window attention and its half-width (a query sees keys at most {@code window}
     * positions away), RoPE θ of the global and local layers, the head's pooling (mean or cls) and activation,
     * and which linear layers and norms carry biases.
     */
    public record Settings(boolean[] local, int window, double globalTheta, double localTheta, boolean meanPooling,
            Activation headActivation, boolean attentionBias, boolean mlpBias, boolean normBias,
            boolean classifierBias) {
    }

    private static final ConfigKeys KEYS = new ConfigKeys("hidden_size", "num_hidden_layers", "num_attention_heads",
            "intermediate_size", "hidden_activation", "norm_eps", 1e-5, null, null, 0);

    @Override
    public String modelType() {
        return "modernbert";
    }

    @Override
    public String basePrefix() {
        return "model.";
    }

    @Override
    public ConfigKeys configKeys() {
        return KEYS;
    }

    @Override
    public String refusesTask(Task task) {
        return task == Task.QUESTION_ANSWERING
                ? "ModernBERT question answering is not implemented (classification and the bare encoder are)" : null;
    }

    /** The settings from transformers 5's keys (layer_types, rope_parameters) or 4's. */
    @Override
    public Object readSettings(ConfigFields f, ModelConfig common) {
        int layers = common.numLayers();
        boolean[] local = new boolean[layers];
        JsonElement types = f.json().get("layer_types");
        if (types != null && types.isJsonArray()) {
            if (types.getAsJsonArray().size() != layers) {
                throw f.error("layer_types", "expected " + layers + " entries (num_hidden_layers)");
            }
            for (int i = 0; i < layers; i++) {
                String t = types.getAsJsonArray().get(i).getAsString();
                if (!t.equals("full_attention") && !t.equals("sliding_attention")) {
                    throw f.error("layer_types", "unsupported layer type '" + t
                            + "' (expected full_attention or sliding_attention)");
                }
                local[i] = t.equals("sliding_attention");
            }
        } else {
            int every = f.positiveInt("global_attn_every_n_layers");
            for (int i = 0; i < layers; i++) {
                local[i] = i % every != 0;
            }
        }
        double globalTheta = f.doubleOr("global_rope_theta", 160000);
        double localTheta = f.doubleOr("local_rope_theta", 10000);
        JsonElement rope = f.json().get("rope_parameters");
        if (rope != null && rope.isJsonObject()) {
            for (Map.Entry<String, JsonElement> e : rope.getAsJsonObject().entrySet()) {
                JsonObject p = e.getValue().getAsJsonObject();
                String type = p.has("rope_type") ? p.get("rope_type").getAsString() : "default";
                if (!type.equals("default")) {
                    throw f.error("rope_parameters", "unsupported rope_type '" + type + "' (expected default)");
                }
                if (e.getKey().equals("full_attention")) {
                    globalTheta = p.get("rope_theta").getAsDouble();
                } else if (e.getKey().equals("sliding_attention")) {
                    localTheta = p.get("rope_theta").getAsDouble();
                }
            }
        }
        String pooling = f.string("classifier_pooling", "cls");
        if (!pooling.equals("mean") && !pooling.equals("cls")) {
            throw f.error("classifier_pooling", "unsupported '" + pooling + "' (expected mean or cls)");
        }
        return new Settings(local, f.positiveInt("local_attention") / 2, globalTheta, localTheta,
                pooling.equals("mean"), f.activation("classifier_activation", "gelu"), f.bool("attention_bias", false),
                f.bool("mlp_bias", false), f.bool("norm_bias", true), f.bool("classifier_bias", false));
    }

    @Override
    public void declareParameters(ParameterLayout layout) {
        ModelConfig c = layout.config();
        Settings m = c.settings(Settings.class);
        long h = c.hiddenSize();
        long ffn = c.intermediateSize();
        layout.base(Role.WORD_EMB, "embeddings.tok_embeddings.weight", c.vocabSize(), h);
        layout.norm(Role.EMB_NORM_W, Role.EMB_NORM_B, "embeddings.norm", m.normBias());
        for (int i = 0; i < c.numLayers(); i++) {
            String p = "layers." + i + ".";
            ParameterLayout.Layer l = layout.addLayer()
                    .add(Parameter.QKV_W, p + "attn.Wqkv.weight", 3 * h, h)
                    .add(LayerRole.ATTN_OUT_W, p + "attn.Wo.weight", h, h)
                    .add(LayerRole.FFN_IN_W, p + "mlp.Wi.weight", 2 * ffn, h)
                    .add(LayerRole.FFN_OUT_W, p + "mlp.Wo.weight", h, ffn);
            if (m.attentionBias()) {
                l.add(Parameter.QKV_B, p + "attn.Wqkv.bias", 3 * h).add(LayerRole.ATTN_OUT_B, p + "attn.Wo.bias", h);
            }
            if (m.mlpBias()) {
                l.add(LayerRole.FFN_IN_B, p + "mlp.Wi.bias", 2 * ffn).add(LayerRole.FFN_OUT_B, p + "mlp.Wo.bias", h);
            }
            if (i > 0) {
                l.add(LayerRole.ATTN_NORM_W, p + "attn_norm.weight", h);
                if (m.normBias()) {
                    l.add(LayerRole.ATTN_NORM_B, p + "attn_norm.bias", h);
                }
            }
            l.add(LayerRole.OUT_NORM_W, p + "mlp_norm.weight", h);
            if (m.normBias()) {
                l.add(LayerRole.OUT_NORM_B, p + "mlp_norm.bias", h);
            }
        }
        layout.norm(Parameter.FINAL_NORM_W, Parameter.FINAL_NORM_B, "final_norm", m.normBias());
        if (c.task() == Task.SEQUENCE_CLASSIFICATION) {
            layout.head(Role.CLS_HIDDEN_W, "head.dense.weight", h, h);
            if (m.classifierBias()) {
                layout.head(Role.CLS_HIDDEN_B, "head.dense.bias", h);
            }
            layout.head(Parameter.HEAD_NORM_W, "head.norm.weight", h);
            if (m.normBias()) {
                layout.head(Parameter.HEAD_NORM_B, "head.norm.bias", h);
            }
            layout.head(Role.CLS_OUT_W, "classifier.weight", c.numLabels(), h);
            layout.head(Role.CLS_OUT_B, "classifier.bias", c.numLabels());
        }
    }

    @Override
    public AttentionTerms attentionTerms(EncoderOps ops, int seqLen, NDManager batchManager) {
        return new RotaryWindowed(ops, seqLen, batchManager);
    }

    /** After attention: residual, then norm → GeGLU → projection, residual. */
    @Override
    public NDArray layerTail(EncoderOps ops, Map<ParameterRole, NDArray> w, NDArray attnDense, NDArray x) {
        NDArray h = release(attnDense, attnDense.add(x));
        NDArray mlpIn = ops.layerNorm(h, w.get(LayerRole.OUT_NORM_W), w.get(LayerRole.OUT_NORM_B));
        NDArray wi = release(mlpIn, EncoderOps.linear(mlpIn, w.get(LayerRole.FFN_IN_W), w.get(LayerRole.FFN_IN_B)));
        NDList halves = wi.split(2, 2);
        NDArray gated = release(wi, ops.config().activation().apply(halves.get(0)).mul(halves.get(1)));
        halves.close();
        NDArray out = release(gated, EncoderOps.linear(gated, w.get(LayerRole.FFN_OUT_W), w.get(LayerRole.FFN_OUT_B)));
        return release(h, release(out, out.add(h)));
    }

    @Override
    public boolean preNorm() {
        return true;
    }

    @Override
    public String refusesDecomposition(String method) {
        return switch (method) {
            case "decompx" -> "DecompX (Modarressi et al. 2023) linearises an activation of one linear map of each "
                    + "token part; ModernBERT's GeGLU multiplies two linear maps of the same input, "
                    + "act(x·W1)·(x·W2), a product of parts the paper does not decompose";
            default -> null;
        };
    }

    @Override
    public boolean poolsMean(ModelConfig config) {
        return config.settings(Settings.class).meanPooling();
    }

    @Override
    public NDArray finalNorm(EncoderOps ops, NDArray x) {
        return ops.layerNorm(x, Parameter.FINAL_NORM_W, Parameter.FINAL_NORM_B);
    }

    /** Mean over real tokens (or the first token), dense → activation → norm, classifier. */
    @Override
    public NDArray classify(EncoderOps ops, NDArray last, NDArray mask) {
        Settings m = ops.config().settings(Settings.class);
        NDArray pooled;
        if (m.meanPooling()) {
            Shape shape = mask.getShape();
            NDArray weights = mask.toType(ops.precision().computeType(), false).reshape(shape.get(0), shape.get(1), 1);
            pooled = last.mul(weights).sum(new int[] {1}).div(weights.sum(new int[] {1}));
        } else {
            pooled = last.get(new NDIndex(":, 0"));
        }
        NDArray dense = m.headActivation().apply(ops.linear(pooled, Role.CLS_HIDDEN_W, Role.CLS_HIDDEN_B));
        return ops.linear(ops.layerNorm(dense, Parameter.HEAD_NORM_W, Parameter.HEAD_NORM_B), Role.CLS_OUT_W,
                Role.CLS_OUT_B);
    }

    /**
     * One pass's attention: the norm before attention (none before layer 0), the fused projection, rotary
     * positions (0 … S−1) for the global and the local θ, and on local layers keys beyond the window masked with
     * the same most negative score as padding (not twice it).
     */
    private static final class RotaryWindowed implements AttentionTerms {
        private final Settings settings;
        private final NDArray[] cos = new NDArray[2];
        private final NDArray[] sin = new NDArray[2];
        private final NDArray window;
        private NDArray localMask;

        RotaryWindowed(EncoderOps ops, int s, NDManager batchManager) {
            this.settings = ops.config().settings(Settings.class);
            int d = ops.config().headSize();
            double[] thetas = {settings.globalTheta(), settings.localTheta()};
            // x·cos + rotate_half(x)·sin, with the frequencies in float32 as transformers' default RoPE.
            for (int t = 0; t < 2; t++) {
                float[] c = new float[s * d];
                float[] sn = new float[s * d];
                for (int i = 0; i < d / 2; i++) {
                    float inv = (float) (1.0 / Math.pow((float) thetas[t], (float) (2 * i) / d));
                    for (int p = 0; p < s; p++) {
                        float angle = p * inv;
                        c[p * d + i] = (float) Math.cos(angle);
                        c[p * d + i + d / 2] = c[p * d + i];
                        sn[p * d + i] = (float) Math.sin(angle);
                        sn[p * d + i + d / 2] = sn[p * d + i];
                    }
                }
                cos[t] = ops.constant(batchManager, c, new Shape(s, d));
                sin[t] = ops.constant(batchManager, sn, new Shape(s, d));
            }
            float[] m = new float[s * s];
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < s; j++) {
                    m[i * s + j] = Math.abs(i - j) <= settings.window() ? 0f : ops.precision().lowestValue();
                }
            }
            this.window = ops.constant(batchManager, m, new Shape(1, 1, s, s));
        }

        @Override
        public NDArray[] project(EncoderOps ops, int layer, Map<ParameterRole, NDArray> w, NDArray x) {
            NDArray attnIn = w.containsKey(LayerRole.ATTN_NORM_W) ? ops.layerNorm(x, w.get(LayerRole.ATTN_NORM_W),
                    w.get(LayerRole.ATTN_NORM_B)) : x;
            NDArray qkv = EncoderOps.linear(attnIn, w.get(Parameter.QKV_W), w.get(Parameter.QKV_B));
            if (attnIn != x) {
                attnIn.close();
            }
            NDList parts = qkv.split(3, 2);
            boolean local = settings.local()[layer];
            NDArray[] out = {rotate(ops.splitHeads(parts.get(0)), local), rotate(ops.splitHeads(parts.get(1)), local),
                ops.splitHeads(parts.get(2))};
            qkv.close();
            return out;
        }

        @Override
        public NDArray mask(int layer, NDArray paddingMask) {
            if (!settings.local()[layer]) {
                return paddingMask;
            }
            if (localMask == null) {
                localMask = paddingMask.minimum(window);
            }
            return localMask;
        }

        /** [batch, heads, S, head size] with rotary positions; releases x. */
        private NDArray rotate(NDArray x, boolean local) {
            int t = local ? 1 : 0;
            NDList halves = x.split(2, 3);
            NDArray rotated = halves.get(1).neg().concat(halves.get(0), 3);
            halves.close();
            NDArray out = x.mul(cos[t]).add(release(rotated, rotated.mul(sin[t])));
            x.close();
            return out;
        }
    }

    @Override
    public String toString() {
        return modelType();
    }
}
