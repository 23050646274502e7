package io.attributionatlas.cli;

import ai.djl.Device;
import io.attributionatlas.model.DeviceChoice;
import io.attributionatlas.model.Precision;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;

/**
 * The options of every command that runs the model: {@code --model DIR}, {@code --task T}, {@code --device D},
 * {@code --precision P}.
 */
final class ModelOptions {

    static final String USAGE = "--model DIR [--task classification|qa|encoder] [--device auto|cpu|gpu|gpu:N]"
            + " [--precision fp32|tf32|bf16|fp16]";

    private ModelOptions() {
    }

    /** The option names, to add to a command's own. */
    static java.util.Set<String> names(String... others) {
        java.util.Set<String> names = new java.util.HashSet<>(java.util.Set.of("model", "task", "device", "precision"));
        names.addAll(java.util.List.of(others));
        return names;
    }

    static Predictor open(Arguments a) {
        Precision precision = precision(a);
        try {
            precision.prepareProcess(); // before PyTorch starts: the device query starts it
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        return Predictor.open(a.path("model"), task(a), device(a), precision);
    }

    /** {@code --precision}, default fp32. */
    static Precision precision(Arguments a) {
        String p = a.get("precision");
        try {
            return p == null ? Precision.FP32 : Precision.parse(p);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static Task task(Arguments a) {
        String t = a.get("task");
        if (t == null) {
            return null;
        }
        try {
            return Task.parse(t);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** {@code --device}, default auto (a GPU when PyTorch sees one); a GPU asked for where none is visible fails. */
    static Device device(Arguments a) {
        String d = a.get("device");
        try {
            return (d == null ? DeviceChoice.AUTO : DeviceChoice.parse(d)).resolve();
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }
}
