package io.attributionatlas.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * A Hugging Face config.json, normalised across families: the keys every family has under BERT's names (the
 * family maps its own spelling, e.g. DistilBERT's {@code dim}, {@code n_layers}), plus the family's own settings
 * ({@link #settings(Class)}). Validated on parse: every error names the file and key.
 */
public record ModelConfig(
        Path file,
        EncoderFamily family,
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
        Object familySettings) {

    public int headSize() {
        return hiddenSize / numHeads;
    }

    public int numLabels() {
        return labels.size();
    }

    /** The family's own settings record (its {@link EncoderFamily#readSettings} result). */
    public <T> T settings(Class<T> type) {
        return type.cast(familySettings);
    }

    /** Whether ELECTRA's {@code embeddings_project} or ALBERT's {@code embedding_hidden_mapping_in} maps
     * embedding_size to hidden_size (ALBERT always has it). */
    public boolean hasEmbeddingProjection() {
        return family.projectsEmbeddings(this);
    }

    /**
     * The most tokens one input may have, special tokens included: the position table's size, less RoBERTa's
     * offset (its positions start at pad_token_id + 1).
     */
    public int maxLength() {
        return family.positionsFromPadding() ? maxPositions - padTokenId - 1 : maxPositions;
    }

    /** Far more layers than any released encoder has (under 100). */
    static final int MAX_LAYERS = 1000;
    /** Positions a text pair of one token each takes with RoBERTa's special tokens: {@code <s> a </s></s> b </s>}. */
    static final int MIN_LENGTH = 6;

    public static ModelConfig read(Path file, Task taskOverride) {
        String text;
        try {
            text = Files.readString(file);
        } catch (NoSuchFileException e) {
            throw ModelException.inFile(file, "file not found (a Hugging Face model directory needs config.json)");
        } catch (IOException e) {
            throw ModelException.inFile(file, "cannot read: " + e.getMessage());
        }
        JsonElement json;
        try {
            json = JsonParser.parseString(text);
        } catch (RuntimeException e) {
            throw ModelException.inFile(file, "not a JSON object (" + e.getMessage() + ")");
        }
        if (!json.isJsonObject()) { // Gson's own message would quote the whole file
            throw ModelException.inFile(file, "not a JSON object");
        }
        return parse(file, json.getAsJsonObject(), taskOverride);
    }

    static ModelConfig parse(Path file, JsonObject json, Task taskOverride) {
        ConfigFields f = new ConfigFields(file, json);
        String modelType = f.string("model_type", null);
        EncoderFamily family = EncoderFamilies.of(modelType);
        if (family == null) {
            throw ModelException.atKey(file, "model_type", modelType == null ? "missing (expected one of "
                    + EncoderFamilies.supportedList() + ")" : "unsupported model_type '" + modelType
                    + "' (expected one of " + EncoderFamilies.supportedList() + ")");
        }
        List<String> architectures = new ArrayList<>();
        if (json.has("architectures") && json.get("architectures").isJsonArray()) {
            for (JsonElement a : json.getAsJsonArray("architectures")) {
                if (!a.isJsonPrimitive() || !a.getAsJsonPrimitive().isString()) {
                    throw ModelException.atKey(file, "architectures", "expected class names (strings), got " + a);
                }
                architectures.add(a.getAsString());
            }
        }
        Task task = taskOverride != null ? taskOverride : Task.infer(architectures);
        String refusal = family.refusesTask(task);
        if (refusal != null) {
            throw ModelException.atKey(file, "architectures", refusal);
        }
        EncoderFamily.ConfigKeys keys = family.configKeys();
        int vocab = f.positiveInt("vocab_size");
        int hidden = f.positiveInt(keys.hidden());
        int layers = f.positiveInt(keys.layers());
        if (layers > MAX_LAYERS) { // the layout, and ALBERT's shared layer, would have them all
            throw ModelException.atKey(file, keys.layers(), layers + " layers: more than " + MAX_LAYERS
                    + ", which no real encoder has");
        }
        int heads = f.positiveInt(keys.heads());
        int intermediate = f.positiveInt(keys.intermediate());
        int embedding = keys.embedding() != null && json.has(keys.embedding()) ? f.positiveInt(keys.embedding())
                : hidden;
        String actName = f.string(keys.activation(), "gelu");
        Activation act = f.activation(keys.activation(), "gelu");
        int maxPos = f.positiveInt("max_position_embeddings");
        int typeVocab = keys.typeVocabulary() == null ? 0 : f.intOr(keys.typeVocabulary(),
                keys.defaultTypeVocabulary());
        float eps = keys.eps() == null ? (float) keys.defaultEps() : (float) f.doubleOr(keys.eps(), keys.defaultEps());
        int pad = f.intOr("pad_token_id", 0);
        if (pad < 0 || pad >= vocab) { // padding rows get it as their token id (RoBERTa: as their position too)
            throw ModelException.atKey(file, "pad_token_id", "must be a token id below vocab_size " + vocab + ", got "
                    + pad);
        }
        long maxLength = family.positionsFromPadding() ? (long) maxPos - pad - 1 : maxPos;
        if (maxLength < MIN_LENGTH) { // the tokenizer could not truncate a pair to it, and the model refuses more
            throw ModelException.atKey(file, "max_position_embeddings", maxPos + " leaves " + maxLength
                    + " positions" + (family.positionsFromPadding() ? " (" + modelType + " positions start after "
                    + "pad_token_id + 1 = " + (pad + 1) + ")" : "") + ", fewer than the " + MIN_LENGTH
                    + " that a text pair of one token each takes with its special tokens");
        }
        if (hidden % heads != 0) {
            throw ModelException.atKey(file, keys.hidden(), "hidden size " + hidden
                    + " is not a multiple of the number of attention heads " + heads);
        }
        ModelConfig common = new ModelConfig(file, family, List.copyOf(architectures), task, vocab, hidden, embedding,
                layers, heads, intermediate, act, actName, maxPos, typeVocab, eps, pad, labels(f, json, task), null);
        try {
            return common.withSettings(family.readSettings(f, common));
        } catch (ModelException e) {
            throw e;
        } catch (RuntimeException e) { // a family's own key of an unexpected JSON type, e.g. a number for an object
            throw ModelException.inFile(file, "unexpected value among the " + modelType + " settings: "
                    + e.getMessage());
        }
    }

    /** This config with the family's settings record (null: none). */
    private ModelConfig withSettings(Object settings) {
        return new ModelConfig(file, family, architectures, task, vocabSize, hiddenSize, embeddingSize, numLayers,
                numHeads, intermediateSize, activation, activationName, maxPositions, typeVocabSize, layerNormEps,
                padTokenId, labels, settings);
    }

    private static List<String> labels(ConfigFields f, JsonObject json, Task task) {
        if (task != Task.SEQUENCE_CLASSIFICATION) {
            return List.of();
        }
        if (json.has("id2label") && json.get("id2label").isJsonObject()) {
            Map<Integer, String> byIndex = new TreeMap<>();
            for (Map.Entry<String, JsonElement> e : json.getAsJsonObject("id2label").entrySet()) {
                try {
                    byIndex.put(Integer.parseInt(e.getKey()), e.getValue().getAsString());
                } catch (RuntimeException ex) {
                    throw ModelException.atKey(f.file(), "id2label", "label index '" + e.getKey() + "' is not an integer");
                }
            }
            List<String> labels = new ArrayList<>();
            for (int i = 0; i < byIndex.size(); i++) {
                String label = byIndex.get(i);
                if (label == null) {
                    throw ModelException.atKey(f.file(), "id2label", "label indices must be 0.." + (byIndex.size() - 1)
                            + ", got " + byIndex.keySet());
                }
                labels.add(label);
            }
            return List.copyOf(labels);
        }
        int n = f.intOr("num_labels", 2);
        if (n <= 0) {
            throw ModelException.atKey(f.file(), "num_labels", "must be a positive integer, got " + n);
        }
        // Named on demand: the count is only checked against the classifier's weights later.
        return new AbstractList<>() {
            @Override
            public String get(int i) {
                return "LABEL_" + Objects.checkIndex(i, n);
            }

            @Override
            public int size() {
                return n;
            }
        };
    }
}
