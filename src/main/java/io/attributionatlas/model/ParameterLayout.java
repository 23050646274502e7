package io.attributionatlas.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters a configuration needs, under canonical Hugging Face names (base-model parameters
 * without their prefix, head parameters as the task model names them), with the shape config.json
 * implies, as the config's family declares them. Every layer is described by the same roles, so every family
 * shares one encoder loop.
 */
public final class ParameterLayout {

    /** One required parameter. {@code base} marks base-model parameters, which may carry the prefix. */
    public record Spec(String name, long[] shape, boolean base) {
        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }

    /** Roles of one encoder layer's parameters that every family's layer loop reads. */
    public enum LayerRole implements ParameterRole {
        QUERY_W, QUERY_B, KEY_W, KEY_B, VALUE_W, VALUE_B, ATTN_OUT_W, ATTN_OUT_B, ATTN_NORM_W, ATTN_NORM_B,
        FFN_IN_W, FFN_IN_B, FFN_OUT_W, FFN_OUT_B, OUT_NORM_W, OUT_NORM_B
    }

    /**
     * Roles of the embedding and head parameters every family may have. CLS_HIDDEN is the dense layer between
     * the pooled token and the classifier (BERT's pooler, RoBERTa's classifier.dense, DistilBERT's
     * pre_classifier).
     */
    public enum Role implements ParameterRole {
        WORD_EMB, POS_EMB, TYPE_EMB, EMB_NORM_W, EMB_NORM_B, EMB_PROJ_W, EMB_PROJ_B,
        CLS_HIDDEN_W, CLS_HIDDEN_B, CLS_OUT_W, CLS_OUT_B, QA_W, QA_B
    }

    private final ModelConfig config;
    private final Map<ParameterRole, Spec> globals = new LinkedHashMap<>();
    private final List<Map<ParameterRole, Spec>> layers = new ArrayList<>();

    /** The parameters {@code config}'s family declares for it. */
    public ParameterLayout(ModelConfig config) {
        this.config = config;
        config.family().declareParameters(this);
    }

    /** A base-model parameter (the file may store it with the base prefix). */
    public void base(ParameterRole role, String name, long... shape) {
        globals.put(role, new Spec(name, shape, true));
    }

    /** A task-head parameter (stored under the task model's name, without prefix). */
    public void head(ParameterRole role, String name, long... shape) {
        globals.put(role, new Spec(name, shape, false));
    }

    /** A norm of the hidden size: weight, and bias where the model has one. */
    public void norm(ParameterRole weight, ParameterRole bias, String name, boolean withBias) {
        base(weight, name + ".weight", config.hiddenSize());
        if (withBias) {
            base(bias, name + ".bias", config.hiddenSize());
        }
    }

    /** Adds the next layer's parameters; {@link Layer} declares them. */
    public Layer addLayer() {
        Map<ParameterRole, Spec> l = new LinkedHashMap<>();
        layers.add(l);
        return new Layer(l);
    }

    /** One layer's parameters as they are declared. */
    public static final class Layer {
        private final Map<ParameterRole, Spec> specs;

        private Layer(Map<ParameterRole, Spec> specs) {
            this.specs = specs;
        }

        /** A base-model parameter of the layer. */
        public Layer add(ParameterRole role, String name, long... shape) {
            specs.put(role, new Spec(name, shape, true));
            return this;
        }

        /** A linear layer [out, in] with its bias [out]. */
        public Layer linear(ParameterRole weight, ParameterRole bias, String name, long out, long in) {
            return add(weight, name + ".weight", out, in).add(bias, name + ".bias", out);
        }

        /** A layer norm of {@code size} with its bias. */
        public Layer norm(ParameterRole weight, ParameterRole bias, String name, long size) {
            return add(weight, name + ".weight", size).add(bias, name + ".bias", size);
        }
    }

    public ModelConfig config() {
        return config;
    }

    public Map<ParameterRole, Spec> globals() {
        return globals;
    }

    public List<Map<ParameterRole, Spec>> layers() {
        return layers;
    }

    /** Every required parameter, embeddings first, then layers, then the head. */
    public List<Spec> all() {
        List<Spec> all = new ArrayList<>();
        globals.values().stream().filter(s -> s.name().startsWith("embeddings")).forEach(all::add);
        layers.forEach(l -> all.addAll(l.values()));
        globals.values().stream().filter(s -> !s.name().startsWith("embeddings")).forEach(all::add);
        return all;
    }

    /**
     * Names under which a stored file may hold a parameter: with and without the base-model prefix,
     * and with the legacy LayerNorm names {@code gamma}/{@code beta}.
     */
    public List<String> candidateKeys(Spec spec) {
        List<String> names = new ArrayList<>();
        names.add(spec.name());
        String lower = spec.name().toLowerCase(java.util.Locale.ROOT);
        if (lower.contains("layernorm.") || lower.contains("layer_norm.")) {
            if (spec.name().endsWith(".weight")) {
                names.add(spec.name().substring(0, spec.name().length() - 6) + "gamma");
            } else if (spec.name().endsWith(".bias")) {
                names.add(spec.name().substring(0, spec.name().length() - 4) + "beta");
            }
        }
        if (!spec.base()) {
            return names;
        }
        List<String> all = new ArrayList<>();
        String prefix = config.family().basePrefix();
        names.forEach(n -> all.add(prefix + n));
        all.addAll(names);
        return all;
    }

    /** Whether an unused stored key belongs to the base encoder's structure (and so signals a mismatch). */
    boolean isEncoderStructureKey(String key) {
        String k = key.startsWith(config.family().basePrefix())
                ? key.substring(config.family().basePrefix().length()) : key;
        if (k.endsWith("position_ids") || k.endsWith("token_type_ids")) {
            return false; // buffers some checkpoints save
        }
        return k.startsWith("embeddings.") || k.startsWith("encoder.") || k.startsWith("transformer.")
                || k.startsWith("embeddings_project.") || k.startsWith("layers.");
    }
}
