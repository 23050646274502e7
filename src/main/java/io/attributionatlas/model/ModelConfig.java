package io.attributionatlas.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A Hugging Face config.json, normalised across architectures (DistilBERT's {@code dim},
 * {@code n_layers}, … become the BERT names). Validated on parse: every error names the file and key.
 */
public record ModelConfig(
        Path file,
        Architecture architecture,
        List<String> architectures,
        Task task,
        int vocabSize,
        int hiddenSize,
        int embeddingSize,
        int numLayers,
        int numHeads,
        int intermediateSize,
        Activation activation,
        String activationName,
        int maxPositions,
        int typeVocabSize,
        float layerNormEps,
        int padTokenId,
        List<String> labels,
        RelativeAttention relative,
        Modern modern) {

    /**
     * ModernBERT's settings: which layers use sliding-window attention and its half-width (a query sees keys at
     * most {@code window} positions away), RoPE θ of the global and local layers, the head's pooling
     * (mean or cls) and activation, and which linear layers and norms carry biases.
     */
    public record Modern(boolean[] local, int window, double globalTheta, double localTheta, boolean meanPooling,
            Activation headActivation, boolean attentionBias, boolean mlpBias, boolean normBias,
            boolean classifierBias) {
    }

    /**
     * DeBERTa's disentangled attention: {@code span} relative positions each way (position_buckets, else
     * max_relative_positions), log-bucketed up to {@code maxRelative} when {@code buckets} > 0; which of the
     * content-to-position and position-to-content terms are on; whether the relative embeddings are
     * layer-normalised; the ContextPooler's activation.
     */
    public record RelativeAttention(int buckets, int maxRelative, int span, boolean c2p, boolean p2c,
            boolean normalised, Activation poolerActivation) {

        /** 1 + one per position term: scores are divided by √(head size × this). */
        public int scaleFactor() {
            return 1 + (c2p ? 1 : 0) + (p2c ? 1 : 0);
        }
    }

    public int headSize() {
        return hiddenSize / numHeads;
    }

    public int numLabels() {
        return labels.size();
    }

    /** Whether ELECTRA's {@code embeddings_project} or ALBERT's {@code embedding_hidden_mapping_in} maps
     * embedding_size to hidden_size (ALBERT always has it). */
    public boolean hasEmbeddingProjection() {
        return embeddingSize != hiddenSize || architecture == Architecture.ALBERT;
    }

    /**
     * The most tokens one input may have, special tokens included: the position table's size, less RoBERTa's
     * offset (its positions start at pad_token_id + 1).
     */
    public int maxLength() {
        return architecture.positionsFromPadding() ? maxPositions - padTokenId - 1 : maxPositions;
    }

    public static ModelConfig read(Path file, Task taskOverride) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw ModelException.inFile(file, "file not found (a Hugging Face model directory needs config.json)");
        } catch (IOException e) {
            throw ModelException.inFile(file, "cannot read: " + e.getMessage());
        }
        JsonObject json;
        try {
            json = JsonParser.parseString(text).getAsJsonObject();
        } catch (RuntimeException e) {
            throw ModelException.inFile(file, "not a JSON object (" + e.getMessage() + ")");
        }
        return parse(file, json, taskOverride);
    }

    static ModelConfig parse(Path file, JsonObject json, Task taskOverride) {
        Fields f = new Fields(file, json);
        String modelType = f.string("model_type", null);
        Architecture arch = Architecture.fromModelType(modelType);
        if (arch == null) {
            throw ModelException.atKey(file, "model_type", modelType == null ? "missing (expected one of "
                    + Architecture.supportedList() + ")" : "unsupported model_type '" + modelType
                    + "' (expected one of " + Architecture.supportedList() + ")");
        }
        List<String> architectures = new ArrayList<>();
        if (json.has("architectures") && json.get("architectures").isJsonArray()) {
            json.getAsJsonArray("architectures").forEach(a -> architectures.add(a.getAsString()));
        }
        Task task = taskOverride != null ? taskOverride : Task.infer(architectures);

        boolean distil = arch == Architecture.DISTILBERT;
        boolean modern = arch == Architecture.MODERNBERT;
        if (!arch.supports(task)) {
            throw ModelException.atKey(file, "architectures", "ModernBERT question answering is not implemented "
                    + "(classification and the bare encoder are)");
        }
        int vocab = f.positiveInt("vocab_size");
        int hidden = f.positiveInt(distil ? "dim" : "hidden_size");
        int layers = f.positiveInt(distil ? "n_layers" : "num_hidden_layers");
        int heads = f.positiveInt(distil ? "n_heads" : "num_attention_heads");
        int intermediate = f.positiveInt(distil ? "hidden_dim" : "intermediate_size");
        int embedding = (arch == Architecture.ELECTRA || arch == Architecture.ALBERT) && json.has("embedding_size")
                ? f.positiveInt("embedding_size") : hidden;
        if (arch == Architecture.ALBERT) {
            // One group of one layer, repeated: what every released ALBERT uses.
            for (String key : new String[] {"num_hidden_groups", "inner_group_num"}) {
                if (f.intOr(key, 1) != 1) {
                    throw ModelException.atKey(file, key, "unsupported " + key + " " + f.intOr(key, 1)
                            + " (expected 1: one shared layer repeated)");
                }
            }
        }
        String actKey = distil ? "activation" : modern ? "hidden_activation" : "hidden_act";
        String actName = f.string(actKey, "gelu");
        Activation act = Activation.fromConfigName(actName);
        if (act == null) {
            throw ModelException.atKey(file, actKey, "unsupported activation '" + actName
                    + "' (expected gelu, gelu_new, gelu_pytorch_tanh, relu or tanh)");
        }
        int maxPos = f.positiveInt("max_position_embeddings");
        RelativeAttention relative = arch == Architecture.DEBERTA_V2 ? relativeAttention(f, json, maxPos, hidden)
                : null;
        int typeVocab = distil || modern ? 0 : f.intOr("type_vocab_size", arch == Architecture.DEBERTA_V2 ? 0 : 2);
        float eps = distil ? 1e-12f : modern ? (float) f.doubleOr("norm_eps", 1e-5)
                : (float) f.doubleOr("layer_norm_eps", 1e-12);
        Modern modernSettings = modern ? modern(f, json, layers) : null;
        int pad = f.intOr("pad_token_id", 0);
        if (arch.positionsFromPadding() && maxPos - pad - 1 <= 0) {
            throw ModelException.atKey(file, "max_position_embeddings", "must exceed pad_token_id + 1 = " + (pad + 1)
                    + " (" + modelType + " positions start after the padding index), got " + maxPos);
        }
        if (!distil && !modern && arch != Architecture.DEBERTA_V2) {
            String posType = f.string("position_embedding_type", "absolute");
            if (!posType.equals("absolute")) {
                throw ModelException.atKey(file, "position_embedding_type", "unsupported position_embedding_type '"
                        + posType + "' (expected absolute)");
            }
        }
        if (hidden % heads != 0) {
            throw ModelException.atKey(file, distil ? "dim" : "hidden_size", "hidden size " + hidden
                    + " is not a multiple of the number of attention heads " + heads);
        }
        return new ModelConfig(file, arch, List.copyOf(architectures), task, vocab, hidden, embedding, layers,
                heads, intermediate, act, actName, maxPos, typeVocab, eps, pad, labels(f, json, task), relative,
                modernSettings);
    }

    /** ModernBERT's settings from transformers 5's keys (layer_types, rope_parameters) or 4's. */
    private static Modern modern(Fields f, JsonObject json, int layers) {
        boolean[] local = new boolean[layers];
        JsonElement types = json.get("layer_types");
        if (types != null && types.isJsonArray()) {
            if (types.getAsJsonArray().size() != layers) {
                throw ModelException.atKey(f.file, "layer_types", "expected " + layers + " entries (num_hidden_layers)");
            }
            for (int i = 0; i < layers; i++) {
                String t = types.getAsJsonArray().get(i).getAsString();
                if (!t.equals("full_attention") && !t.equals("sliding_attention")) {
                    throw ModelException.atKey(f.file, "layer_types", "unsupported layer type '" + t
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
        JsonElement rope = json.get("rope_parameters");
        if (rope != null && rope.isJsonObject()) {
            for (Map.Entry<String, JsonElement> e : rope.getAsJsonObject().entrySet()) {
                JsonObject p = e.getValue().getAsJsonObject();
                String type = p.has("rope_type") ? p.get("rope_type").getAsString() : "default";
                if (!type.equals("default")) {
                    throw ModelException.atKey(f.file, "rope_parameters", "unsupported rope_type '" + type
                            + "' (expected default)");
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
            throw ModelException.atKey(f.file, "classifier_pooling", "unsupported '" + pooling
                    + "' (expected mean or cls)");
        }
        String headActName = f.string("classifier_activation", "gelu");
        Activation headAct = Activation.fromConfigName(headActName);
        if (headAct == null) {
            throw ModelException.atKey(f.file, "classifier_activation", "unsupported activation '" + headActName + "'");
        }
        return new Modern(local, f.positiveInt("local_attention") / 2, globalTheta, localTheta,
                pooling.equals("mean"), headAct, f.bool("attention_bias", false), f.bool("mlp_bias", false),
                f.bool("norm_bias", true), f.bool("classifier_bias", false));
    }

    /** DeBERTa-v2/v3's attention settings; what this implementation does not do is refused by name. */
    private static RelativeAttention relativeAttention(Fields f, JsonObject json, int maxPos, int hidden) {
        if (!f.bool("relative_attention", false)) {
            throw ModelException.atKey(f.file, "relative_attention", "unsupported: false (expected true: DeBERTa "
                    + "without relative attention is not implemented)");
        }
        if (f.bool("position_biased_input", true)) {
            throw ModelException.atKey(f.file, "position_biased_input", "unsupported: true (expected false, as "
                    + "DeBERTa-v3: absolute position embeddings are not implemented)");
        }
        if (!f.bool("share_att_key", false)) {
            throw ModelException.atKey(f.file, "share_att_key", "unsupported: false (expected true: separate "
                    + "pos_key_proj / pos_query_proj are not implemented)");
        }
        if (f.intOr("conv_kernel_size", 0) > 0) {
            throw ModelException.atKey(f.file, "conv_kernel_size", "unsupported convolution layer (expected 0)");
        }
        if (json.has("embedding_size") && f.intOr("embedding_size", hidden) != hidden) {
            throw ModelException.atKey(f.file, "embedding_size", "unsupported embed_proj (expected the hidden size "
                    + hidden + ")");
        }
        if (f.intOr("pooler_hidden_size", hidden) != hidden) {
            throw ModelException.atKey(f.file, "pooler_hidden_size", "expected the hidden size " + hidden);
        }
        boolean c2p = false;
        boolean p2c = false;
        JsonElement types = json.get("pos_att_type");
        List<String> names = new ArrayList<>();
        if (types != null && types.isJsonArray()) {
            types.getAsJsonArray().forEach(t -> names.add(t.getAsString()));
        } else if (types != null && types.isJsonPrimitive()) {
            names.addAll(List.of(types.getAsString().toLowerCase(java.util.Locale.ROOT).split("\\|")));
        }
        for (String t : names) {
            switch (t.trim()) {
                case "c2p" -> c2p = true;
                case "p2c" -> p2c = true;
                default -> throw ModelException.atKey(f.file, "pos_att_type", "unsupported value '" + t
                        + "' (expected c2p and/or p2c)");
            }
        }
        int buckets = f.intOr("position_buckets", -1);
        int maxRelative = f.intOr("max_relative_positions", -1);
        if (maxRelative < 1) {
            maxRelative = maxPos;
        }
        String norm = f.string("norm_rel_ebd", "none").toLowerCase(java.util.Locale.ROOT);
        if (!norm.equals("none") && !norm.equals("layer_norm")) {
            throw ModelException.atKey(f.file, "norm_rel_ebd", "unsupported value '" + norm
                    + "' (expected none or layer_norm)");
        }
        String poolerAct = f.string("pooler_hidden_act", "gelu");
        Activation pooler = Activation.fromConfigName(poolerAct);
        if (pooler == null) {
            throw ModelException.atKey(f.file, "pooler_hidden_act", "unsupported activation '" + poolerAct + "'");
        }
        return new RelativeAttention(buckets, maxRelative, buckets > 0 ? buckets : maxRelative, c2p, p2c,
                norm.equals("layer_norm"), pooler);
    }

    private static List<String> labels(Fields f, JsonObject json, Task task) {
        if (task != Task.SEQUENCE_CLASSIFICATION) {
            return List.of();
        }
        if (json.has("id2label") && json.get("id2label").isJsonObject()) {
            Map<Integer, String> byIndex = new TreeMap<>();
            for (Map.Entry<String, JsonElement> e : json.getAsJsonObject("id2label").entrySet()) {
                try {
                    byIndex.put(Integer.parseInt(e.getKey()), e.getValue().getAsString());
                } catch (RuntimeException ex) {
                    throw ModelException.atKey(f.file, "id2label", "label index '" + e.getKey() + "' is not an integer");
                }
            }
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < byIndex.size(); i++) {
                String label = byIndex.get(i);
                if (label == null) {
                    throw ModelException.atKey(f.file, "id2label", "label indices must be 0.." + (byIndex.size() - 1)
                            + ", got " + byIndex.keySet());
                }
                labels.add(label);
            }
            return List.copyOf(labels);
        }
        int n = f.intOr("num_labels", 2);
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            labels.add("LABEL_" + i);
        }
        return List.copyOf(labels);
    }

    /** Typed access to config.json fields with errors that name the key. */
    private record Fields(Path file, JsonObject json) {
        int positiveInt(String key) {
            if (!json.has(key) || json.get(key).isJsonNull()) {
                throw ModelException.atKey(file, key, "missing (expected a positive integer)");
            }
            int v = intOr(key, 0);
            if (v <= 0) {
                throw ModelException.atKey(file, key, "must be a positive integer, got " + json.get(key));
            }
            return v;
        }

        int intOr(String key, int fallback) {
            JsonElement e = json.get(key);
            if (e == null || e.isJsonNull()) {
                return fallback;
            }
            try {
                double d = e.getAsDouble();
                if (d != Math.rint(d)) {
                    throw new NumberFormatException();
                }
                return (int) d;
            } catch (RuntimeException ex) {
                throw ModelException.atKey(file, key, "expected an integer, got " + e);
            }
        }

        double doubleOr(String key, double fallback) {
            JsonElement e = json.get(key);
            if (e == null || e.isJsonNull()) {
                return fallback;
            }
            try {
                return e.getAsDouble();
            } catch (RuntimeException ex) {
                throw ModelException.atKey(file, key, "expected a number, got " + e);
            }
        }

        boolean bool(String key, boolean fallback) {
            JsonElement e = json.get(key);
            if (e == null || e.isJsonNull()) {
                return fallback;
            }
            if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
                throw ModelException.atKey(file, key, "expected true or false, got " + e);
            }
            return e.getAsBoolean();
        }

        String string(String key, String fallback) {
            JsonElement e = json.get(key);
            if (e == null || e.isJsonNull()) {
                return fallback;
            }
            if (!e.isJsonPrimitive()) {
                throw ModelException.atKey(file, key, "expected a string, got " + e);
            }
            return e.getAsString();
        }
    }
}
