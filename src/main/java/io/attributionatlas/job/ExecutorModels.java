package io.attributionatlas.job;

import ai.djl.Device;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.MemoryBudget;
import io.attributionatlas.model.DeviceChoice;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
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
 * given as a URI is copied once per machine to a local cache, and every executor checks its model against
 * the driver's fingerprint.
 */
final class ExecutorModels {

    private static final Map<String, Loaded> EXPLAINERS = new ConcurrentHashMap<>();
    /** Fingerprints of copies this JVM just made, so that loading one does not read the whole model again. */
    private static final Map<java.nio.file.Path, String> COPIED = new ConcurrentHashMap<>();

    /** A loaded explainer, the engine that feeds it, and the fingerprint of the model directory it was loaded from. */
    record Loaded(Explainer explainer, BatchEngine engine, String fingerprint) {
    }

    private ExecutorModels() {
    }

    /**
     * The executor's explainer for the configured model, loading it on first use; {@code fingerprint} is the
     * driver's fingerprint of the model, which this executor's copy must have (null: not checked).
     */
    static Explainer explainer(JobConfig config, String fingerprint, Configuration hadoop) {
        return loaded(config, fingerprint, hadoop).explainer();
    }

    /** The executor's explainer and the engine its tasks hand their batches to, as {@link #explainer} loads them. */
    static Loaded loaded(JobConfig config, String fingerprint, Configuration hadoop) {
        config.precision().prepareProcess(); // before PyTorch starts: the device query starts it
        Device device = taskDevice(DeviceChoice.parse(config.get("engine.device")));
        String key = config.required("model.path") + "|" + device + "|" + config.asMap();
        Loaded loaded = EXPLAINERS.computeIfAbsent(key, k -> load(config, device, fingerprint, hadoop));
        if (fingerprint != null && !fingerprint.equals(loaded.fingerprint())) {
            throw new IllegalStateException("the model " + config.get("model.path") + " as this executor reads it ("
                    + loaded.fingerprint() + ") is not the model the driver validated (" + fingerprint + "): it "
                    + "changed during the run, or the machines hold different copies");
        }
        return loaded;
    }

    /**
     * Whether the executor's tasks share one engine thread and queue (engine.queue): shared, per_task, or auto
     * (shared on a GPU, where concurrent small passes would leave it idle; per task on a CPU, where each task's
     * passes use its share of the cores).
     */
    static boolean sharedQueue(JobConfig config, Device device) {
        return switch (config.get("engine.queue")) {
            case "shared" -> true;
            case "per_task" -> false;
            default -> device.isGpu();
        };
    }

    /** Loads the model as the executors will (failing fast on a bad model or options); its fingerprint. */
    static String validate(JobConfig config, Configuration hadoop) {
        return validated(config, hadoop).fingerprint();
    }

    /** The model's maximum length in tokens (loaded as {@link #validate} loads it). */
    static int maxLength(JobConfig config, Configuration hadoop) {
        return validated(config, hadoop).explainer().model().config().maxLength();
    }

    private static Loaded validated(JobConfig config, Configuration hadoop) {
        config.precision().prepareProcess();
        Device device = taskDevice(DeviceChoice.parse(config.get("engine.device")));
        return EXPLAINERS.computeIfAbsent(config.required("model.path") + "|" + device + "|" + config.asMap(),
                k -> load(config, device, null, hadoop));
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
     * Whether the executors are expected to run on GPUs, as the driver sees it (engine.device gpu, or auto with a
     * GPU visible here): the partition count follows batch.samples auto of that device.
     */
    static boolean gpuExpected(JobConfig config) {
        DeviceChoice choice = DeviceChoice.parse(config.get("engine.device"));
        return choice.kind() == DeviceChoice.Kind.GPU
                || choice.kind() == DeviceChoice.Kind.AUTO && DeviceChoice.visibleGpus() > 0;
    }

    /**
     * How many tasks of this executor can run on one device at once: the executor's task slots (local[N]: N;
     * spark-submit: spark.executor.cores / spark.task.cpus), and with Spark's GPU scheduling at most
     * 1 / spark.task.resource.gpu.amount of them per GPU. memory_mb auto splits a GPU's free memory between them.
     */
    static int tasksPerDevice(JobConfig config) {
        org.apache.spark.SparkConf conf = org.apache.spark.SparkEnv.get() != null
                ? org.apache.spark.SparkEnv.get().conf() : null;
        java.util.OptionalInt local = localTasks(conf != null ? conf.get("spark.master", "") : config.get("spark.master"));
        int slots = local.isPresent() ? local.getAsInt() : conf == null ? 1
                : Math.max(1, conf.getInt("spark.executor.cores", 1) / Math.max(1, conf.getInt("spark.task.cpus", 1)));
        double gpuAmount = conf != null ? conf.getDouble("spark.task.resource.gpu.amount", 0) : 0;
        if (gpuAmount > 0) {
            slots = Math.min(slots, (int) Math.max(1, Math.floor(1 / gpuAmount + 1e-9)));
        }
        return Math.max(1, slots);
    }

    /** Concurrent tasks of a local master (local: 1, local[N]: N, local[*]: the cores); empty for a cluster. */
    static java.util.OptionalInt localTasks(String master) {
        if (master.equals("local")) {
            return java.util.OptionalInt.of(1);
        }
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("^local(-cluster)?\\[(\\d+|\\*)").matcher(master);
        if (!m.find() || m.group(1) != null) {
            return java.util.OptionalInt.empty();
        }
        return java.util.OptionalInt.of(m.group(2).equals("*") ? Runtime.getRuntime().availableProcessors()
                : Integer.parseInt(m.group(2)));
    }

    /**
     * How many explainers this JVM has loaded: each is kept for the JVM's life, so this is its model loads
     * (tests check one per model and settings; the manifest reports it per executor).
     */
    static int loadedCount() {
        return EXPLAINERS.size();
    }

    private static Loaded load(JobConfig config, Device device, String fingerprint, Configuration hadoop) {
        // Read by DJL when the PyTorch engine starts: so many tasks × threads do not oversubscribe the cores.
        if (System.getProperty("ai.djl.pytorch.num_threads") == null) {
            System.setProperty("ai.djl.pytorch.num_threads", Integer.toString(engineThreads(config)));
            System.setProperty("ai.djl.pytorch.num_interop_threads", "1");
        }
        java.nio.file.Path dir = localModel(config.required("model.path"), fingerprint, hadoop);
        // The loader names the file and the problem of a bad model directory; the fingerprint comes after it.
        Predictor predictor = Predictor.open(dir, task(config), device, config.precision());
        String copied = COPIED.remove(dir);
        AttributionOptions options = config.attributionOptions();
        try { // before Spark starts on the driver
            options.embeddingLayers(predictor.model().config().numLayers());
        } catch (IllegalArgumentException e) {
            predictor.close();
            throw new IllegalArgumentException("embeddings.layers: " + e.getMessage(), e);
        }
        boolean shared = sharedQueue(config, device);
        if (options.memoryMb() == AttributionOptions.AUTO && device.isGpu()) {
            // Per task, the explainer is shared by the executor's tasks, which run their passes at the same time;
            // with one queue, one pass runs at a time.
            options.memoryMb(MemoryBudget.gpuShareMb(device, shared ? 1 : tasksPerDevice(config)));
        }
        Explainer explainer = new Explainer(predictor, options);
        BatchEngine engine = shared ? BatchEngine.queued(explainer, config.samplesPerBatch(device.isGpu()))
                : BatchEngine.direct(explainer);
        return new Loaded(explainer, engine, copied != null ? copied : fingerprint(dir));
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
            return Math.max(1, cores / localTasks(config.get("spark.master")).orElse(cores));
        }
        return Math.max(1, Integer.parseInt(System.getProperty("spark.task.cpus", "1")));
    }

    static Task task(JobConfig config) {
        String t = config.get("model.task");
        return t.equals("auto") ? null : Task.parse(t);
    }

    /**
     * A local directory holding the model: a plain path is used in place; a URI ({@code file:///dir},
     * {@code hdfs://}, {@code s3a://}, any Hadoop file system) is copied into a cache under
     * {@code java.io.tmpdir}/atlas-models, keyed by URI and fingerprint and filled by an atomic rename, so
     * concurrent executors never see half a copy; with the driver's fingerprint {@code expected}, a copy already
     * in the cache is used, so each machine copies the model once.
     */
    static java.nio.file.Path localModel(String uri, String expected, Configuration hadoop) {
        Path path = new Path(uri);
        return path.toUri().getScheme() == null ? java.nio.file.Path.of(uri) : cachedCopy(path, expected, hadoop);
    }

    private static java.nio.file.Path cachedCopy(Path uri, String expected, Configuration hadoop) {
        java.nio.file.Path root = java.nio.file.Path.of(System.getProperty("java.io.tmpdir"), "atlas-models");
        try {
            if (expected != null && Files.isDirectory(root.resolve(cacheName(uri, expected)))) {
                return root.resolve(cacheName(uri, expected));
            }
            Files.createDirectories(root);
            java.nio.file.Path copy = Files.createTempDirectory(root, ".copy-");
            FileSystem fs = uri.getFileSystem(hadoop);
            for (FileStatus f : fs.listStatus(uri)) {
                if (f.isFile()) {
                    try (InputStream in = fs.open(f.getPath());
                            OutputStream out = Files.newOutputStream(copy.resolve(f.getPath().getName()))) {
                        in.transferTo(out);
                    }
                }
            }
            String fingerprint = fingerprint(copy);
            java.nio.file.Path target = root.resolve(cacheName(uri, fingerprint));
            try {
                Files.move(copy, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException alreadyThere) { // another executor on this machine was first: same content
                deleteTree(copy);
            }
            COPIED.put(target, fingerprint);
            return target;
        } catch (IOException e) {
            throw new IllegalStateException("cannot copy the model from " + uri + ": " + e.getMessage(), e);
        }
    }

    private static String cacheName(Path uri, String fingerprint) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest((uri + "|" + fingerprint)
                    .getBytes(StandardCharsets.UTF_8))).substring(0, 24);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void deleteTree(java.nio.file.Path dir) throws IOException {
        try (var files = Files.walk(dir)) {
            for (java.nio.file.Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(f);
            }
        }
    }

    /** SHA-256 over the model directory's config, weights, tokenizer and vocabulary files. */
    static String fingerprint(java.nio.file.Path dir) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            List<java.nio.file.Path> files;
            try (var stream = Files.list(dir)) {
                files = stream.filter(Files::isRegularFile).sorted().toList();
            }
            for (java.nio.file.Path f : files) {
                String name = f.getFileName().toString();
                if (name.endsWith(".json") || name.endsWith(".safetensors") || name.equals("vocab.txt")) {
                    digest.update(name.getBytes(StandardCharsets.UTF_8));
                    try (InputStream in = Files.newInputStream(f)) {
                        byte[] buffer = new byte[1 << 16];
                        for (int n; (n = in.read(buffer)) > 0; ) {
                            digest.update(buffer, 0, n);
                        }
                    }
                }
            }
            return "sha256:" + HexFormat.of().formatHex(digest.digest());
        } catch (IOException | java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException("cannot fingerprint " + dir + ": " + e.getMessage(), e);
        }
    }
}
