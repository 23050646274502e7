package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The job on a real Spark standalone cluster: {@code scripts/local-cluster start} (a Master and two Workers,
 * separate JVMs, 1 core each) and {@code scripts/submit.sh} (SparkSubmit from the project's class path, the
 * shaded application jar). Each test compares the cluster's tables with the same job in local mode: equal with
 * the model given as a {@code file://} URI (copied by each executor and checked against the driver's
 * fingerprint), equal after an executor JVM is SIGKILLed mid-run, equal under speculative execution. Every
 * JVM started here is stopped, also when a test fails.
 */
@Tag("cluster")
class ClusterIT {

    private static final int ROWS = 96;
    private static final double TOLERANCE = 1e-6;

    @TempDir
    static Path tmp;

    private static String master;
    private static Path input;
    private static Path reference;
    private static final Thread STOP_ON_EXIT = new Thread(ClusterIT::stopCluster);

    @BeforeAll
    static void startClusterAndLocalReference() throws Exception {
        Runtime.getRuntime().addShutdownHook(STOP_ON_EXIT);
        Process start = new ProcessBuilder("scripts/local-cluster", "start").redirectError(
                tmp.resolve("local-cluster.log").toFile()).start();
        String out = new String(start.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        assertTrue(start.waitFor(3, TimeUnit.MINUTES) && start.exitValue() == 0, "local-cluster start failed: "
                + Files.readString(tmp.resolve("local-cluster.log")));
        master = out.substring(out.lastIndexOf('\n') + 1);
        assertTrue(master.matches("spark://127\\.0\\.0\\.1:\\d+"), "last line is the master URL: " + out);

        input = JobRuns.demoSlice(tmp, ROWS);
        reference = tmp.resolve("local");
        Fixtures.Forked local = JobRuns.runDriver(JobRuns.demoArgs(model().toString(), input, reference, "--set",
                "spark.master=local[2]"), tmp.resolve("local.log"), 10);
        assertEquals(0, local.status(), local.output());
    }

    @AfterAll
    static void stopAll() {
        stopCluster();
        Runtime.getRuntime().removeShutdownHook(STOP_ON_EXIT);
        JobEndToEndTest.stopReader();
    }

    private static void stopCluster() {
        try {
            new ProcessBuilder("scripts/local-cluster", "stop").inheritIO().start().waitFor(2, TimeUnit.MINUTES);
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException("cannot stop the local cluster", e);
        }
    }

    private static Path model() {
        return Path.of("src/demo/model/minilm-sst2").toAbsolutePath();
    }

    /** scripts/submit.sh to the cluster, 1 GB driver and 1 GB executors of 1 core, then the job's arguments. */
    private static Process submit(List<String> sparkConf, List<String> jobArgs, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of("scripts/submit.sh", "--master", master, "--driver-memory", "1g",
                "--executor-memory", "1g", "--executor-cores", "1", "--total-executor-cores", "2"));
        for (String c : sparkConf) {
            command.addAll(List.of("--conf", c));
        }
        command.add("--");
        command.addAll(jobArgs.subList(1, jobArgs.size())); // submit.sh adds "run"
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    private static String finish(Process p, Path log) throws Exception {
        try {
            assertTrue(p.waitFor(10, TimeUnit.MINUTES), "the cluster job did not finish in 10 min; see " + log);
            String output = Files.readString(log);
            assertEquals(0, p.exitValue(), output);
            return output;
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
    }

    private static Row manifest(Path output) {
        return JobEndToEndTest.table(output, Tables.MANIFEST).get(0);
    }

    private static JsonArray executors(Row manifest) {
        return JsonParser.parseString(manifest.getString(manifest.fieldIndex("executors_json"))).getAsJsonArray();
    }

    private static JsonObject attempts(Row manifest) {
        return JsonParser.parseString(manifest.getString(manifest.fieldIndex("task_attempts_json"))).getAsJsonObject();
    }

    /** Every executor loaded the model once, and the executors' samples add up to the run's. */
    private static void assertExecutorsLoadedOnce(Row manifest) {
        long samples = 0;
        for (JsonElement e : executors(manifest)) {
            JsonObject o = e.getAsJsonObject();
            assertEquals(1, o.get("model_loads").getAsLong(), "one model load per executor JVM: " + o);
            assertTrue(!o.get("executor").getAsString().equals("driver"), "tasks ran on executors: " + o);
            samples += o.get("samples").getAsLong();
        }
        assertEquals(manifest.getLong(manifest.fieldIndex("samples")), samples);
        // each executor's peak RSS, from Spark's executor metrics, apart from the driver's
        JsonObject memory = JsonParser.parseString(manifest.getString(manifest.fieldIndex("memory_json")))
                .getAsJsonObject();
        JsonObject rss = memory.getAsJsonObject("executors_rss_mb");
        for (JsonElement e : executors(manifest)) {
            String id = e.getAsJsonObject().get("executor").getAsString();
            assertTrue(rss.has(id) && rss.get(id).getAsDouble() > 100, "executor " + id + "'s peak RSS: " + memory);
        }
        assertTrue(memory.get("driver_vmhwm_mb").getAsDouble() > 100, memory.toString());
    }

    @Test
    void tablesEqualLocalModeWithTheModelAsAFileUri() throws Exception {
        Path copy = tmp.resolve("other/dir/minilm-sst2");
        Files.createDirectories(copy);
        try (var files = Files.list(model())) {
            for (Path f : files.toList()) {
                Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        Path output = tmp.resolve("cluster");
        Path log = tmp.resolve("cluster.log");
        finish(submit(List.of(), JobRuns.demoArgs(copy.toUri().toString(), input, output), log), log);
        JobRuns.assertSameTables(reference, output, TOLERANCE);
        Row m = manifest(output);
        assertEquals(manifest(reference).getString(manifest(reference).fieldIndex("model_fingerprint")),
                m.getString(m.fieldIndex("model_fingerprint")), "the copy is the same model");
        assertExecutorsLoadedOnce(m);
        Set<String> executorIds = new HashSet<>();
        executors(m).forEach(e -> executorIds.add(e.getAsJsonObject().get("executor").getAsString()));
        assertEquals(2, executorIds.size(), "both executors worked: " + executors(m));
        assertEquals(manifest(reference).getInt(manifest(reference).fieldIndex("partitions")),
                m.getInt(m.fieldIndex("partitions")), "2 task slots in both: the same partitions");
    }

    @Test
    void anExecutorKilledMidRunChangesNothing() throws Exception {
        Path output = tmp.resolve("executor-killed");
        Path log = tmp.resolve("executor-killed.log");
        String runId = "executor-killed";
        Process job = submit(List.of(), JobRuns.demoArgs(model().toString(), input, output, "--resume-or-start", runId), log);
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        ProcessHandle victim = null;
        while (victim == null && job.isAlive() && System.nanoTime() < deadline) {
            if (JobRuns.finishedPartitions(output, runId) >= 1) {
                victim = executorProcesses().stream().findFirst().orElse(null);
            }
            Thread.sleep(50);
        }
        assertTrue(victim != null, "no executor to kill while the job ran: " + Files.readString(log));
        victim.destroyForcibly(); // SIGKILL
        finish(job, log);
        JobRuns.assertSameTables(reference, output, TOLERANCE);
        Row m = manifest(output);
        assertTrue(attempts(m).get("failed").getAsLong() >= 1, "tasks of the lost executor failed and were re-run: "
                + attempts(m));
        assertExecutorsLoadedOnce(m);
        System.out.println("executor killed: task attempts " + attempts(m) + "; executors " + executors(m));
    }

    @Test
    void speculativeTaskAttemptsChangeNothing() throws Exception {
        Path output = tmp.resolve("speculation");
        Path log = tmp.resolve("speculation.log");
        // Aggressive: once 30% of a stage's tasks are done, any task running over 200 ms gets a copy on the
        // other worker's host as soon as a slot there is free.
        finish(submit(List.of("spark.speculation=true", "spark.speculation.interval=50ms",
                "spark.speculation.multiplier=0.01", "spark.speculation.quantile=0.3",
                "spark.speculation.minTaskRuntime=200ms", "spark.speculation.efficiency.enabled=false"),
                JobRuns.demoArgs(model().toString(), input, output), log), log);
        JobRuns.assertSameTables(reference, output, TOLERANCE);
        Row m = manifest(output);
        assertTrue(attempts(m).get("speculative").getAsLong() >= 1, "speculative copies ran: " + attempts(m));
        assertExecutorsLoadedOnce(m);
        System.out.println("speculation: task attempts " + attempts(m));
    }

    /** The executor JVMs the local cluster's Workers launched. */
    private static List<ProcessHandle> executorProcesses() throws IOException {
        List<ProcessHandle> out = new ArrayList<>();
        try (var pids = Files.newDirectoryStream(Path.of("target/local-cluster"), "worker-*.pid")) {
            for (Path pid : pids) {
                ProcessHandle.of(Long.parseLong(Files.readString(pid).strip())).ifPresent(worker -> worker.descendants()
                        .filter(p -> p.info().arguments().map(a -> String.join(" ", a)
                                .contains("CoarseGrainedExecutorBackend")).orElse(false))
                        .forEach(out::add));
            }
        }
        return out;
    }
}
