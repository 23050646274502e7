package io.attributionatlas.model;

import ai.djl.Device;
import ai.djl.engine.Engine;
import java.util.List;
import java.util.Locale;

/**
 * Where a model runs, as the command line ({@code --device}) and the job ({@code engine.device}) say it:
 * {@code auto} (a GPU when one is visible, else the CPU), {@code cpu}, {@code gpu} (the first visible GPU, or
 * the one Spark assigned to the task) or {@code gpu:N}. Asking for a GPU where none is visible fails, naming
 * what was asked and what is visible; {@code auto} falls back to the CPU, {@code gpu} never does.
 */
public record DeviceChoice(Kind kind, int index) {

    /** What was asked for. */
    public enum Kind {
        AUTO, CPU, GPU
    }

    public static final DeviceChoice AUTO = new DeviceChoice(Kind.AUTO, -1);

    public static DeviceChoice parse(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        switch (v) {
            case "auto":
                return AUTO;
            case "cpu":
                return new DeviceChoice(Kind.CPU, -1);
            case "gpu":
                return new DeviceChoice(Kind.GPU, -1);
            default:
                if (v.startsWith("gpu:")) {
                    try {
                        int index = Integer.parseInt(v.substring(4));
                        if (index >= 0) {
                            return new DeviceChoice(Kind.GPU, index);
                        }
                    } catch (NumberFormatException e) {
                        // reported below
                    }
                }
                throw new IllegalArgumentException("device: expected auto, cpu, gpu or gpu:N, got '" + value + "'");
        }
    }

    /** The device on this machine: visible GPUs as PyTorch counts them, no Spark assignment. */
    public Device resolve() {
        return resolve(visibleGpus(), List.of());
    }

    /**
     * The device, given how many GPUs are visible and the GPU addresses Spark assigned to the task (empty when
     * it assigned none): an assigned GPU wins for {@code auto} and {@code gpu}; {@code gpu:N} is that GPU;
     * {@code auto} is the CPU when no GPU is visible.
     */
    public Device resolve(int visibleGpus, List<String> assignedGpus) {
        int assigned = assignedGpus.isEmpty() ? 0 : Integer.parseInt(assignedGpus.get(0).trim());
        switch (kind) {
            case CPU:
                return Device.cpu();
            case AUTO:
                // the CPU also when Spark assigned a GPU that this libtorch cannot use
                return visibleGpus == 0 ? Device.cpu() : Device.gpu(assigned);
            default:
                int wanted = index >= 0 ? index : assigned;
                if (wanted >= visibleGpus) {
                    throw new IllegalArgumentException(String.format(Locale.ROOT, "device %s: %s, but %s; a GPU needs "
                            + "CUDA libtorch instead of the CPU build (README, \"GPUs\")", describe(),
                            index >= 0 || !assignedGpus.isEmpty() ? "GPU " + wanted + " was asked for"
                                    : "a GPU was asked for",
                            visibleGpus == 0 ? "PyTorch sees no GPU" : "PyTorch sees " + visibleGpus + " GPU(s)"));
                }
                return Device.gpu(wanted);
        }
    }

    /** GPUs the PyTorch engine sees (0 with the CPU build of libtorch). */
    public static int visibleGpus() {
        OfflineEngine.ensure();
        return Engine.getEngine("PyTorch").getGpuCount();
    }

    public String describe() {
        return kind == Kind.GPU && index >= 0 ? "gpu:" + index : kind.name().toLowerCase(Locale.ROOT);
    }
}
