package io.attributionatlas.job;

import ai.djl.Device;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.model.DeviceChoice;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;

/**
 * Exactly one loaded model (and explainer) per executor JVM for a given model and settings, created
 * lazily by the first task that needs it and shared by every later and concurrent task: the model's
 * weights are read-only and each forward pass uses its own NDManager and per-thread grad mode. A model
 * on a Hadoop file system is copied once to a local cache.
 */
final class ExecutorModels {

    private static final Map<String, Explainer> EXPLAINERS = new ConcurrentHashMap<>();

    private ExecutorModels() {
    }

    static Explainer explainer(JobConfig config) {
        Device device = taskDevice(DeviceChoice.parse(config.get("engine.device")));
        String key = config.required("model.path") + "|" + device + "|" + config.asMap();
        return EXPLAINERS.computeIfAbsent(key, k -> load(config, device));
    }

    /**
     * The device of the running task: engine.device resolved against the GPUs PyTorch sees and the GPU Spark
     * assigned to the task (spark.task.resource.gpu.amount), if any. A GPU needs CUDA libtorch (README, "GPUs").
     */
    static Device taskDevice(DeviceChoice choice) {
        return choice.resolve(choice.kind() == DeviceChoice.Kind.CPU ? 0 : DeviceChoice.visibleGpus(),
                assignedGpus(TaskContext.get()));
    }

    /** The GPU addresses Spark gave the task, empty when none (or outside a task). */
    static List<String> assignedGpus(TaskContext task) {
        if (task != null && task.resources().contains("gpu")) {
            return List.of(task.resources().apply("gpu").addresses());
        }
        return List.of();
    }

    /**
     * How many explainers this JVM has loaded: each is kept for the JVM's life, so this is its model loads
     * (tests check one per model and settings; the manifest reports it per executor).
     */
    static int loadedCount() {
        return EXPLAINERS.size();
    }

    private static Explainer load(JobConfig config, Device device) {
        // Read by DJL when the PyTorch engine starts: so many tasks × threads do not oversubscribe the cores.
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(engineThreads(config)));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        java.nio.file.Path dir = localCopy(config.required("model.path"));
        Predictor predictor = Predictor.open(dir, task(config), device);
        return new Explainer(predictor, config.attributionOptions());
    }

    /**
     * PyTorch threads per JVM: engine.threads when set; else, in local mode (local[N] or local[*]), the
     * cores divided by the N concurrent tasks; else (spark-submit) spark.task.cpus, the cores a task owns.
     */
    static int engineThreads(JobConfig config) {
        int configured = config.integer("engine.threads");
        if (configured > 0) {
            return configured;
        }
        int cores = Runtime.getRuntime().availableProcessors();
        String submitted = System.getProperty("spark.master");
        if (submitted == null) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("local\\[(\\d+|\\*)").matcher(
                    config.get("spark.master"));
            int tasks = m.find() && !m.group(1).equals("*") ? Integer.parseInt(m.group(1)) : cores;
            return Math.max(1, cores / Math.max(1, tasks));
        }
        return Math.max(1, Integer.parseInt(System.getProperty("spark.task.cpus", "1")));
    }

    static Task task(JobConfig config) {
        String t = config.get("model.task");
        return t.equals("auto") ? null : Task.parse(t);
    }

    /** A local path of the model directory: itself when local, else a cached copy from its file system. */
    static java.nio.file.Path localCopy(String uri) {
        Path path = new Path(uri);
        String scheme = path.toUri().getScheme();
        if (scheme == null || scheme.equals("file")) {
            return java.nio.file.Path.of(path.toUri().getPath());
        }
        try {
            FileSystem fs = path.getFileSystem(new Configuration());
            String digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256")
                    .digest(uri.getBytes(StandardCharsets.UTF_8))).substring(0, 16);
            java.nio.file.Path cache = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "atlas-models",
                    digest);
            java.nio.file.Path done = cache.resolve(".complete");
            synchronized (ExecutorModels.class) {
                if (!Files.exists(done)) {
                    Files.createDirectories(cache);
                    for (FileStatus f : fs.listStatus(path)) {
                        if (f.isFile()) {
                            try (InputStream in = fs.open(f.getPath());
                                    OutputStream out = Files.newOutputStream(cache.resolve(f.getPath().getName()))) {
                                in.transferTo(out);
                            }
                        }
                    }
                    Files.writeString(done, uri);
                }
            }
            return cache;
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot copy the model from " + uri + ": " + e.getMessage(), e);
        }
    }
}
