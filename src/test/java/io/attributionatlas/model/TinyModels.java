package io.attributionatlas.model;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.model.SafetensorsWriter.Tensor;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

/**
 * Seeded tiny random models of every architecture and task, written the way Hugging Face writes them
 * (config.json, model.safetensors with the base-model prefix, a position_ids buffer, vocab.txt), with
 * variants for stored dtype, legacy names, sharding and activations.
 */
public final class TinyModels {

    public static final int VOCAB = 40;
    public static final int HIDDEN = 16;
    public static final int LAYERS = 2;
    public static final int HEADS = 4;
    public static final int FFN = 24;
    public static final int MAX_POSITIONS = 32;
    public static final int ELECTRA_EMBEDDING = 8;
    static final List<String> WORDS = List.of("the", "movie", "was", "good", "bad", "not", "very", "acting", "plot",
            "who", "won", "game", "team", "a", "b", "c", ".", ",", "?", "!");

    /** How to write a model. */
    public record Spec(EncoderFamily architecture, Task task, String dtype, boolean prefixed, boolean legacyLayerNorm,
            int shards, String activation, long seed, double weightScale) {
        /** Weights N(0, 0.3²): far from linear, so finite-difference checks exercise every nonlinearity. */
        /** Whether the spec is of the family with this model_type. */
        boolean is(String modelType) {
            return architecture.modelType().equals(modelType);
        }

        public static Spec of(EncoderFamily a, Task t) {
            return new Spec(a, t, "F32", true, false, 1, "gelu", 42, 0.3);
        }

        public Spec withWeightScale(double scale) {
            return new Spec(architecture, task, dtype, prefixed, legacyLayerNorm, shards, activation, seed, scale);
        }

        Spec withDtype(String d) {
            return new Spec(architecture, task, d, prefixed, legacyLayerNorm, shards, activation, seed, weightScale);
        }

        Spec withoutPrefix() {
            return new Spec(architecture, task, dtype, false, legacyLayerNorm, shards, activation, seed, weightScale);
        }

        Spec withLegacyLayerNorm() {
            return new Spec(architecture, task, dtype, prefixed, true, shards, activation, seed, weightScale);
        }

        Spec withShards(int n) {
            return new Spec(architecture, task, dtype, prefixed, legacyLayerNorm, n, activation, seed, weightScale);
        }

        Spec withActivation(String name) {
            return new Spec(architecture, task, dtype, prefixed, legacyLayerNorm, shards, name, seed, weightScale);
        }
    }

    private TinyModels() {
    }

    static JsonObject config(Spec spec) {
        JsonObject c = new JsonObject();
        JsonArray archs = new JsonArray();
        String cls = switch (spec.architecture().modelType()) {
            case "bert" -> "Bert";
            case "distilbert" -> "DistilBert";
            case "electra" -> "Electra";
            case "roberta" -> "Roberta";
            case "xlm-roberta" -> "XLMRoberta";
            case "albert" -> "Albert";
            case "deberta-v2" -> "DebertaV2";
            case "modernbert" -> "ModernBert";
            case "mpnet" -> "MPNet";
            default -> throw new IllegalArgumentException("TinyModels cannot write a " + spec.architecture().modelType()
                    + " model: add its config here");
        };
        archs.add(cls + switch (spec.task()) {
            case SEQUENCE_CLASSIFICATION -> "ForSequenceClassification";
            case QUESTION_ANSWERING -> "ForQuestionAnswering";
            case ENCODER -> "Model";
        });
        c.add("architectures", archs);
        c.addProperty("model_type", spec.architecture().modelType());
        c.addProperty("vocab_size", VOCAB);
        // RoBERTa's positions start after the padding index (0 here): one more row gives the same maximum length.
        c.addProperty("max_position_embeddings", spec.architecture().positionsFromPadding() ? MAX_POSITIONS + 1
                : MAX_POSITIONS);
        c.addProperty("pad_token_id", 0);
        if (spec.is("modernbert")) { // as the transformers defaults, window small for 32 tokens
            c.addProperty("hidden_size", HIDDEN);
            c.addProperty("num_hidden_layers", LAYERS);
            c.addProperty("num_attention_heads", HEADS);
            c.addProperty("intermediate_size", FFN);
            c.addProperty("hidden_activation", spec.activation());
            c.addProperty("norm_eps", 1e-5);
            c.addProperty("norm_bias", false);
            c.addProperty("local_attention", 4);
            c.addProperty("global_attn_every_n_layers", 2);
            c.addProperty("classifier_pooling", "mean");
            c.addProperty("classifier_activation", "gelu");
        } else if (spec.is("distilbert")) {
            c.addProperty("dim", HIDDEN);
            c.addProperty("n_layers", LAYERS);
            c.addProperty("n_heads", HEADS);
            c.addProperty("hidden_dim", FFN);
            c.addProperty("activation", spec.activation());
        } else {
            c.addProperty("hidden_size", HIDDEN);
            c.addProperty("num_hidden_layers", LAYERS);
            c.addProperty("num_attention_heads", HEADS);
            c.addProperty("intermediate_size", FFN);
            c.addProperty("hidden_act", spec.activation());
            c.addProperty("type_vocab_size", spec.architecture().positionsFromPadding() ? 1
                    : spec.is("deberta-v2") ? 0 : 2);
            c.addProperty("layer_norm_eps", 1e-12);
            c.addProperty("position_embedding_type", "absolute");
        }
        if (spec.is("deberta-v2")) { // DeBERTa-v3's settings, buckets small for 32 tokens
            c.addProperty("relative_attention", true);
            c.addProperty("position_biased_input", false);
            c.addProperty("share_att_key", true);
            JsonArray types = new JsonArray();
            types.add("p2c");
            types.add("c2p");
            c.add("pos_att_type", types);
            c.addProperty("position_buckets", 8);
            c.addProperty("max_relative_positions", -1);
            c.addProperty("norm_rel_ebd", "layer_norm");
        }
        if (spec.is("mpnet")) {
            c.addProperty("relative_attention_num_buckets", 8); // few, so that 32 tokens reach the log buckets
        }
        if (spec.is("electra") || spec.is("albert")) {
            c.addProperty("embedding_size", ELECTRA_EMBEDDING);
        }
        if (spec.task() == Task.SEQUENCE_CLASSIFICATION) {
            JsonObject id2label = new JsonObject();
            for (int i = 0; i < 3; i++) {
                id2label.addProperty(Integer.toString(i), "class_" + i);
            }
            c.add("id2label", id2label);
        }
        return c;
    }

    /** Writes the model into {@code dir} and returns it. */
    public static Path write(Path dir, Spec spec) throws IOException {
        return write(dir, spec, config(spec));
    }

    static Path write(Path dir, Spec spec, JsonObject config) throws IOException {
        Files.createDirectories(dir);
        Files.writeString(dir.resolve("config.json"), config.toString());
        List<String> vocab = new ArrayList<>(List.of("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"));
        vocab.addAll(WORDS);
        while (vocab.size() < VOCAB) {
            vocab.add("##" + (char) ('a' + vocab.size() % 26) + vocab.size());
        }
        Files.write(dir.resolve("vocab.txt"), vocab);
        Files.writeString(dir.resolve("tokenizer_config.json"), "{\"do_lower_case\": true, \"model_max_length\": "
                + MAX_POSITIONS + "}");
        writeWeights(dir, tensors(spec, ModelConfig.parse(dir.resolve("config.json"), config, null)), spec.shards());
        return dir;
    }

    /** The model's tensors under the names Hugging Face would save, plus an unused buffer and MLM head. */
    static Map<String, Tensor> tensors(Spec spec, ModelConfig config) {
        Random random = new Random(spec.seed());
        ParameterLayout layout = new ParameterLayout(config);
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (ParameterLayout.Spec p : layout.all()) {
            String name = p.name();
            boolean norm = name.toLowerCase().contains("layernorm.") || name.contains("layer_norm.");
            if (spec.legacyLayerNorm() && norm) {
                name = name.replaceAll("\\.weight$", ".gamma").replaceAll("\\.bias$", ".beta");
            }
            if (p.base() && spec.prefixed()) {
                name = spec.architecture().basePrefix() + name;
            }
            long n = 1;
            for (long d : p.shape()) {
                n *= d;
            }
            float[] v = new float[(int) n];
            boolean gamma = norm && p.name().endsWith(".weight");
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (gamma ? 1 + 0.1 * random.nextGaussian() : spec.weightScale() * random.nextGaussian());
            }
            out.put(name, Tensor.of(spec.dtype(), p.shape(), v));
        }
        // Things real checkpoints carry that the model does not use: an int64 buffer and a pre-training head.
        ByteBuffer positions = ByteBuffer.allocate(8 * MAX_POSITIONS).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < MAX_POSITIONS; i++) {
            positions.putLong(i);
        }
        String prefix = spec.prefixed() ? spec.architecture().basePrefix() : "";
        out.put(prefix + "embeddings.position_ids", new Tensor("I64", new long[] {1, MAX_POSITIONS}, null,
                positions.array()));
        out.put("cls.predictions.bias", Tensor.of("F32", new long[] {VOCAB}, new float[VOCAB]));
        return out;
    }

    static void writeWeights(Path dir, Map<String, Tensor> tensors, int shards) throws IOException {
        if (shards <= 1) {
            SafetensorsWriter.write(dir.resolve(WeightStore.SINGLE_FILE), tensors);
            return;
        }
        List<Map<String, Tensor>> parts = new ArrayList<>();
        for (int i = 0; i < shards; i++) {
            parts.add(new LinkedHashMap<>());
        }
        JsonObject weightMap = new JsonObject();
        int i = 0;
        for (Map.Entry<String, Tensor> e : tensors.entrySet()) {
            int shard = i++ % shards;
            parts.get(shard).put(e.getKey(), e.getValue());
            weightMap.addProperty(e.getKey(), shardName(shard, shards));
        }
        for (int s = 0; s < shards; s++) {
            SafetensorsWriter.write(dir.resolve(shardName(s, shards)), parts.get(s));
        }
        JsonObject index = new JsonObject();
        index.add("metadata", new JsonObject());
        index.add("weight_map", weightMap);
        Files.writeString(dir.resolve(WeightStore.INDEX_FILE), index.toString());
    }

    static String shardName(int shard, int shards) {
        return String.format("model-%05d-of-%05d.safetensors", shard + 1, shards);
    }

    /** Rewrites the weights with a NaN word embedding for {@code token}: inputs containing it give NaN. */
    public static void poisonToken(Path dir, Spec spec, String token) throws IOException {
        ModelConfig config = ModelConfig.read(dir.resolve("config.json"), null);
        Map<String, Tensor> tensors = tensors(spec, config);
        String key = (spec.prefixed() ? spec.architecture().basePrefix() : "") + "embeddings.word_embeddings.weight";
        Tensor embeddings = tensors.get(key);
        int id = Files.readAllLines(dir.resolve("vocab.txt")).indexOf(token);
        int width = (int) embeddings.shape()[1];
        for (int d = 0; d < width; d++) {
            embeddings.values()[id * width + d] = Float.NaN;
        }
        writeWeights(dir, tensors, spec.shards());
    }
}
