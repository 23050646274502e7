package io.attributionatlas.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The parameters a configuration needs, under canonical Hugging Face names (base-model parameters
 * without their prefix, head parameters as the task model names them), with the shape config.json
 * implies. Every layer is described by the same roles, so BERT, DistilBERT and ELECTRA share one encoder.
 */
public final class ParameterLayout {

    /** One required parameter. {@code base} marks base-model parameters, which may carry the prefix. */
    public record Spec(String name, long[] shape, boolean base) {
        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }

    /** Roles of one encoder layer's parameters, in a fixed order. */
    public enum LayerRole {
        QUERY_W, QUERY_B, KEY_W, KEY_B, VALUE_W, VALUE_B, ATTN_OUT_W, ATTN_OUT_B, ATTN_NORM_W, ATTN_NORM_B,
        FFN_IN_W, FFN_IN_B, FFN_OUT_W, FFN_OUT_B, OUT_NORM_W, OUT_NORM_B,
        /** ModernBERT's fused query, key and value projection [3·hidden, hidden]. */
        QKV_W, QKV_B
    }

    /** Roles of the embedding and head parameters. */
    public enum Role {
        WORD_EMB, POS_EMB, TYPE_EMB, EMB_NORM_W, EMB_NORM_B, EMB_PROJ_W, EMB_PROJ_B, REL_EMB, REL_NORM_W, REL_NORM_B,
        POOLER_W, POOLER_B, CLS_HIDDEN_W, CLS_HIDDEN_B, CLS_OUT_W, CLS_OUT_B, QA_W, QA_B,
        FINAL_NORM_W, FINAL_NORM_B, HEAD_NORM_W, HEAD_NORM_B
    }

    private final ModelConfig config;
    private final Map<Role, Spec> globals = new LinkedHashMap<>();
    private final List<Map<LayerRole, Spec>> layers = new ArrayList<>();

    public ParameterLayout(ModelConfig config) {
        this.config = config;
        if (config.architecture() == Architecture.MODERNBERT) {
            modernBert();
            return;
        }
        long h = config.hiddenSize();
        long e = config.embeddingSize();
        long ffn = config.intermediateSize();
        boolean distil = config.architecture() == Architecture.DISTILBERT;
        boolean albert = config.architecture() == Architecture.ALBERT;
        boolean deberta = config.architecture() == Architecture.DEBERTA_V2;

        base(Role.WORD_EMB, "embeddings.word_embeddings.weight", config.vocabSize(), e);
        if (!deberta) { // DeBERTa-v3: relative positions only
            base(Role.POS_EMB, "embeddings.position_embeddings.weight", config.maxPositions(), e);
        }
        if (!distil && config.typeVocabSize() > 0) {
            base(Role.TYPE_EMB, "embeddings.token_type_embeddings.weight", config.typeVocabSize(), e);
        }
        base(Role.EMB_NORM_W, "embeddings.LayerNorm.weight", e);
        base(Role.EMB_NORM_B, "embeddings.LayerNorm.bias", e);
        if (config.hasEmbeddingProjection()) {
            String projection = albert ? "encoder.embedding_hidden_mapping_in" : "embeddings_project";
            base(Role.EMB_PROJ_W, projection + ".weight", h, e);
            base(Role.EMB_PROJ_B, projection + ".bias", h);
        }
        if (deberta) {
            base(Role.REL_EMB, "encoder.rel_embeddings.weight", 2L * config.relative().span(), h);
            if (config.relative().normalised()) {
                base(Role.REL_NORM_W, "encoder.LayerNorm.weight", h);
                base(Role.REL_NORM_B, "encoder.LayerNorm.bias", h);
            }
        }
        for (int i = 0; i < config.numLayers(); i++) {
            Map<LayerRole, Spec> l = new LinkedHashMap<>();
            // ALBERT: every layer is the one shared layer (the same names, loaded once).
            String p = distil ? "transformer.layer." + i + "." : albert ? "encoder.albert_layer_groups.0.albert_layers.0."
                    : "encoder.layer." + i + ".";
            String[] names = distil
                    ? new String[] {"attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                        "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"}
                    : albert ? new String[] {"attention.query", "attention.key", "attention.value", "attention.dense",
                        "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm"}
                    : deberta ? new String[] {"attention.self.query_proj", "attention.self.key_proj",
                        "attention.self.value_proj", "attention.output.dense", "attention.output.LayerNorm",
                        "intermediate.dense", "output.dense", "output.LayerNorm"}
                    : new String[] {"attention.self.query", "attention.self.key", "attention.self.value",
                        "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                        "output.LayerNorm"};
            linear(l, LayerRole.QUERY_W, LayerRole.QUERY_B, p + names[0], h, h);
            linear(l, LayerRole.KEY_W, LayerRole.KEY_B, p + names[1], h, h);
            linear(l, LayerRole.VALUE_W, LayerRole.VALUE_B, p + names[2], h, h);
            linear(l, LayerRole.ATTN_OUT_W, LayerRole.ATTN_OUT_B, p + names[3], h, h);
            l.put(LayerRole.ATTN_NORM_W, new Spec(p + names[4] + ".weight", new long[] {h}, true));
            l.put(LayerRole.ATTN_NORM_B, new Spec(p + names[4] + ".bias", new long[] {h}, true));
            linear(l, LayerRole.FFN_IN_W, LayerRole.FFN_IN_B, p + names[5], ffn, h);
            linear(l, LayerRole.FFN_OUT_W, LayerRole.FFN_OUT_B, p + names[6], h, ffn);
            l.put(LayerRole.OUT_NORM_W, new Spec(p + names[7] + ".weight", new long[] {h}, true));
            l.put(LayerRole.OUT_NORM_B, new Spec(p + names[7] + ".bias", new long[] {h}, true));
            layers.add(l);
        }

        long labels = config.numLabels();
        switch (config.task()) {
            case SEQUENCE_CLASSIFICATION -> {
                switch (config.architecture()) {
                    case BERT -> {
                        base(Role.POOLER_W, "pooler.dense.weight", h, h);
                        base(Role.POOLER_B, "pooler.dense.bias", h);
                        head(Role.CLS_OUT_W, "classifier.weight", labels, h);
                        head(Role.CLS_OUT_B, "classifier.bias", labels);
                    }
                    case DISTILBERT -> {
                        head(Role.CLS_HIDDEN_W, "pre_classifier.weight", h, h);
                        head(Role.CLS_HIDDEN_B, "pre_classifier.bias", h);
                        head(Role.CLS_OUT_W, "classifier.weight", labels, h);
                        head(Role.CLS_OUT_B, "classifier.bias", labels);
                    }
                    case ALBERT -> {
                        base(Role.POOLER_W, "pooler.weight", h, h);
                        base(Role.POOLER_B, "pooler.bias", h);
                        head(Role.CLS_OUT_W, "classifier.weight", labels, h);
                        head(Role.CLS_OUT_B, "classifier.bias", labels);
                    }
                    case DEBERTA_V2 -> {
                        head(Role.CLS_HIDDEN_W, "pooler.dense.weight", h, h);
                        head(Role.CLS_HIDDEN_B, "pooler.dense.bias", h);
                        head(Role.CLS_OUT_W, "classifier.weight", labels, h);
                        head(Role.CLS_OUT_B, "classifier.bias", labels);
                    }
                    case ELECTRA, ROBERTA, XLM_ROBERTA -> {
                        head(Role.CLS_HIDDEN_W, "classifier.dense.weight", h, h);
                        head(Role.CLS_HIDDEN_B, "classifier.dense.bias", h);
                        head(Role.CLS_OUT_W, "classifier.out_proj.weight", labels, h);
                        head(Role.CLS_OUT_B, "classifier.out_proj.bias", labels);
                    }
                }
            }
            case QUESTION_ANSWERING -> {
                head(Role.QA_W, "qa_outputs.weight", 2, h);
                head(Role.QA_B, "qa_outputs.bias", 2);
            }
            case ENCODER -> { }
        }
    }

    /**
     * ModernBERT's parameters, under the layer roles of the post-norm families: ATTN_NORM is the norm before
     * attention (absent in layer 0, where transformers has an identity), OUT_NORM the norm before the MLP, FFN_IN
     * GeGLU's [2·intermediate, hidden] projection; biases only where config.json says so.
     */
    private void modernBert() {
        ModelConfig.Modern m = config.modern();
        long h = config.hiddenSize();
        long ffn = config.intermediateSize();
        base(Role.WORD_EMB, "embeddings.tok_embeddings.weight", config.vocabSize(), h);
        norm(Role.EMB_NORM_W, Role.EMB_NORM_B, "embeddings.norm", m.normBias());
        for (int i = 0; i < config.numLayers(); i++) {
            Map<LayerRole, Spec> l = new LinkedHashMap<>();
            String p = "layers." + i + ".";
            l.put(LayerRole.QKV_W, new Spec(p + "attn.Wqkv.weight", new long[] {3 * h, h}, true));
            l.put(LayerRole.ATTN_OUT_W, new Spec(p + "attn.Wo.weight", new long[] {h, h}, true));
            l.put(LayerRole.FFN_IN_W, new Spec(p + "mlp.Wi.weight", new long[] {2 * ffn, h}, true));
            l.put(LayerRole.FFN_OUT_W, new Spec(p + "mlp.Wo.weight", new long[] {h, ffn}, true));
            if (m.attentionBias()) {
                l.put(LayerRole.QKV_B, new Spec(p + "attn.Wqkv.bias", new long[] {3 * h}, true));
                l.put(LayerRole.ATTN_OUT_B, new Spec(p + "attn.Wo.bias", new long[] {h}, true));
            }
            if (m.mlpBias()) {
                l.put(LayerRole.FFN_IN_B, new Spec(p + "mlp.Wi.bias", new long[] {2 * ffn}, true));
                l.put(LayerRole.FFN_OUT_B, new Spec(p + "mlp.Wo.bias", new long[] {h}, true));
            }
            if (i > 0) {
                l.put(LayerRole.ATTN_NORM_W, new Spec(p + "attn_norm.weight", new long[] {h}, true));
                if (m.normBias()) {
                    l.put(LayerRole.ATTN_NORM_B, new Spec(p + "attn_norm.bias", new long[] {h}, true));
                }
            }
            l.put(LayerRole.OUT_NORM_W, new Spec(p + "mlp_norm.weight", new long[] {h}, true));
            if (m.normBias()) {
                l.put(LayerRole.OUT_NORM_B, new Spec(p + "mlp_norm.bias", new long[] {h}, true));
            }
            layers.add(l);
        }
        norm(Role.FINAL_NORM_W, Role.FINAL_NORM_B, "final_norm", m.normBias());
        if (config.task() == Task.SEQUENCE_CLASSIFICATION) {
            head(Role.CLS_HIDDEN_W, "head.dense.weight", h, h);
            if (m.classifierBias()) {
                head(Role.CLS_HIDDEN_B, "head.dense.bias", h);
            }
            head(Role.HEAD_NORM_W, "head.norm.weight", h);
            if (m.normBias()) {
                head(Role.HEAD_NORM_B, "head.norm.bias", h);
            }
            head(Role.CLS_OUT_W, "classifier.weight", config.numLabels(), h);
            head(Role.CLS_OUT_B, "classifier.bias", config.numLabels());
        }
    }

    private void norm(Role weight, Role bias, String name, boolean withBias) {
        base(weight, name + ".weight", config.hiddenSize());
        if (withBias) {
            base(bias, name + ".bias", config.hiddenSize());
        }
    }

    private void base(Role role, String name, long... shape) {
        globals.put(role, new Spec(name, shape, true));
    }

    private void head(Role role, String name, long... shape) {
        globals.put(role, new Spec(name, shape, false));
    }

    private static void linear(Map<LayerRole, Spec> l, LayerRole w, LayerRole b, String name, long out, long in) {
        l.put(w, new Spec(name + ".weight", new long[] {out, in}, true));
        l.put(b, new Spec(name + ".bias", new long[] {out}, true));
    }

    public ModelConfig config() {
        return config;
    }

    public Map<Role, Spec> globals() {
        return globals;
    }

    public List<Map<LayerRole, Spec>> layers() {
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
        String prefix = config.architecture().basePrefix();
        names.forEach(n -> all.add(prefix + n));
        all.addAll(names);
        return all;
    }

    /** Whether an unused stored key belongs to the base encoder's structure (and so signals a mismatch). */
    boolean isEncoderStructureKey(String key) {
        String k = key.startsWith(config.architecture().basePrefix())
                ? key.substring(config.architecture().basePrefix().length()) : key;
        if (k.endsWith("position_ids") || k.endsWith("token_type_ids")) {
            return false; // buffers some checkpoints save
        }
        return k.startsWith("embeddings.") || k.startsWith("encoder.") || k.startsWith("transformer.")
                || k.startsWith("embeddings_project.") || k.startsWith("layers.");
    }
}
