package io.attributionatlas.model;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.nio.file.Path;

/** Typed access to config.json's fields, with errors that name the file and the key. */
public record ConfigFields(Path file, JsonObject json) {

    public int positiveInt(String key) {
        if (!json.has(key) || json.get(key).isJsonNull()) {
            throw ModelException.atKey(file, key, "missing (expected a positive integer)");
        }
        int v = intOr(key, 0);
        if (v <= 0) {
            throw ModelException.atKey(file, key, "must be a positive integer, got " + json.get(key));
        }
        return v;
    }

    public int intOr(String key, int fallback) {
        JsonElement e = json.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        try {
            double d = e.getAsDouble();
            // A cast would saturate: 1e400 or 2^31 would read as 2^31 - 1.
            if (d != Math.rint(d) || d < Integer.MIN_VALUE || d > Integer.MAX_VALUE) {
                throw new NumberFormatException();
            }
            return (int) d;
        } catch (RuntimeException ex) {
            throw ModelException.atKey(file, key, "expected an integer, got " + e);
        }
    }

    public double doubleOr(String key, double fallback) {
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

    public boolean bool(String key, boolean fallback) {
        JsonElement e = json.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive() || !e.getAsJsonPrimitive().isBoolean()) {
            throw ModelException.atKey(file, key, "expected true or false, got " + e);
        }
        return e.getAsBoolean();
    }

    public String string(String key, String fallback) {
        JsonElement e = json.get(key);
        if (e == null || e.isJsonNull()) {
            return fallback;
        }
        if (!e.isJsonPrimitive()) {
            throw ModelException.atKey(file, key, "expected a string, got " + e);
        }
        return e.getAsString();
    }

    /** A model error at a key of this file. */
    public ModelException error(String key, String problem) {
        return ModelException.atKey(file, key, problem);
    }

    /** An activation by config name, refusing the ones not implemented. */
    public Activation activation(String key, String fallback) {
        String name = string(key, fallback);
        Activation a = Activation.fromConfigName(name);
        if (a == null) {
            throw ModelException.atKey(file, key, "unsupported activation '" + name
                    + "' (expected gelu, gelu_new, gelu_pytorch_tanh, relu or tanh)");
        }
        return a;
    }

    /** Refuses any position_embedding_type but absolute (relative_key and relative_key_query are not implemented). */
    public void requireAbsolutePositions() {
        String type = string("position_embedding_type", "absolute");
        if (!type.equals("absolute")) {
            throw ModelException.atKey(file, "position_embedding_type", "unsupported position_embedding_type '"
                    + type + "' (expected absolute)");
        }
    }
}
