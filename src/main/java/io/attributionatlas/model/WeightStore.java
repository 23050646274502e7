package io.attributionatlas.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * The tensors of a model directory: one {@code model.safetensors}, or the shards named by
 * {@code model.safetensors.index.json}. Headers of every file are validated when the store opens.
 */
public final class WeightStore {

    public static final String SINGLE_FILE = "model.safetensors";
    public static final String INDEX_FILE = "model.safetensors.index.json";
    static final String PICKLE_FILE = "pytorch_model.bin";

    private final Map<String, SafetensorsFile> fileOfKey;

    private WeightStore(Map<String, SafetensorsFile> fileOfKey) {
        this.fileOfKey = Collections.unmodifiableMap(fileOfKey);
    }

    public static WeightStore open(Path dir) {
        Path single = dir.resolve(SINGLE_FILE);
        Path index = dir.resolve(INDEX_FILE);
        if (Files.isRegularFile(single)) {
            SafetensorsFile f = SafetensorsFile.open(single);
            if (f.tensors().isEmpty()) { // a missing parameter could name no file
                throw ModelException.inFile(single, "holds no tensors");
            }
            Map<String, SafetensorsFile> map = new LinkedHashMap<>();
            f.tensors().keySet().forEach(k -> map.put(k, f));
            return new WeightStore(map);
        }
        if (Files.isRegularFile(index)) {
            return openSharded(dir, index);
        }
        if (Files.isRegularFile(dir.resolve(PICKLE_FILE))) {
            throw ModelException.inFile(dir.resolve(PICKLE_FILE), "PyTorch pickle weights are not loaded (unpickling "
                    + "can execute code). Convert them to safetensors once, e.g. in Python: "
                    + "`from transformers import AutoModel; AutoModel.from_pretrained(DIR)"
                    + ".save_pretrained(DIR, safe_serialization=True)` (or the task class, e.g. "
                    + "AutoModelForSequenceClassification), which writes model.safetensors");
        }
        throw ModelException.inFile(single, "file not found (expected model.safetensors or "
                + INDEX_FILE + " with its shards)");
    }

    private static WeightStore openSharded(Path dir, Path index) {
        JsonObject weightMap;
        try {
            JsonObject root = JsonParser.parseString(Files.readString(index)).getAsJsonObject();
            weightMap = root.getAsJsonObject("weight_map");
        } catch (IOException e) {
            throw ModelException.inFile(index, "cannot read: " + e.getMessage());
        } catch (RuntimeException e) {
            throw ModelException.inFile(index, "not a safetensors index (expected a JSON object with a weight_map)");
        }
        if (weightMap == null || weightMap.isEmpty()) {
            throw ModelException.atKey(index, "weight_map", weightMap == null ? "missing" : "names no tensors");
        }
        Map<String, SafetensorsFile> shards = new HashMap<>();
        Map<String, SafetensorsFile> map = new TreeMap<>();
        for (Map.Entry<String, JsonElement> e : weightMap.entrySet()) {
            if (!e.getValue().isJsonPrimitive() || !e.getValue().getAsJsonPrimitive().isString()) {
                throw ModelException.atKey(index, e.getKey(), "expected a shard file name, got " + e.getValue());
            }
            String shardName = e.getValue().getAsString();
            Path shardPath;
            try {
                shardPath = dir.resolve(shardName).normalize();
            } catch (InvalidPathException ex) { // e.g. a NUL character
                throw ModelException.atKey(index, e.getKey(), "invalid shard file name '" + shardName + "'");
            }
            if (!dir.normalize().equals(shardPath.getParent())) { // also "/", which has no parent
                throw ModelException.atKey(index, e.getKey(), "shard '" + shardName + "' is outside the model directory");
            }
            SafetensorsFile shard = shards.get(shardName);
            if (shard == null) {
                if (!Files.isRegularFile(shardPath)) {
                    throw ModelException.atKey(index, e.getKey(), "names shard " + shardName + ", which is missing: "
                            + shardPath);
                }
                shard = SafetensorsFile.open(shardPath);
                shards.put(shardName, shard);
            }
            if (!shard.tensors().containsKey(e.getKey())) {
                throw ModelException.atKey(shardPath, e.getKey(), "listed in " + INDEX_FILE + " but not in this shard");
            }
            map.put(e.getKey(), shard);
        }
        return new WeightStore(map);
    }

    public Iterable<String> keys() {
        return fileOfKey.keySet();
    }

    public boolean contains(String key) {
        return fileOfKey.containsKey(key);
    }

    public SafetensorsFile.TensorInfo info(String key) {
        return fileOfKey.get(key).tensors().get(key);
    }

    public Path fileOf(String key) {
        return fileOfKey.get(key).path();
    }

    public float[] read(String key) {
        return fileOfKey.get(key).readFloats(key);
    }

    /** The dtypes of the stored tensors, e.g. "F16"; for display. */
    public SortedSet<String> dtypes() {
        SortedSet<String> s = new TreeSet<>();
        fileOfKey.forEach((k, f) -> s.add(f.tensors().get(k).dtypeName()));
        return s;
    }
}
