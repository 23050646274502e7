package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The driver killed (SIGKILL) mid-run, on the real model: no table looks complete; a resume with another
 * configuration or an edited input is refused with the reason (with {@code --resume} and with
 * {@code --resume-or-start}, the Airflow DAG's option); the same command with {@code --resume RUN_ID}
 * computes only the partitions the ledger lacks and gives tables identical, bit for bit, to an uninterrupted
 * run's.
 */
class JobResumeTest {

    private static final int ROWS = 96;
    /** Slices too: a resumed run's slice tables equal the uninterrupted run's. */
    private static final String SLICES = "slices=label,predicted,correct,length,confidence";

    @TempDir
    static Path tmp;

    @AfterAll
    static void stopReader() {
        JobEndToEndTest.stopReader();
    }

    @Test
    void aKilledDriverIsResumedToTheTablesOfAnUninterruptedRun() throws Exception {
        Path input = JobRuns.demoSlice(tmp, ROWS);
        String model = Path.of("src/demo/model/minilm-sst2").toAbsolutePath().toString();
        Path reference = tmp.resolve("reference");
        long t0 = System.nanoTime();
        Fixtures.Forked whole = JobRuns.runDriver(JobRuns.demoArgs(model, input, reference, "--set",
                "spark.master=local[2]", "--set", SLICES), tmp.resolve("reference.log"), 10);
        double wholeSeconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(0, whole.status(), whole.output());

        Path output = tmp.resolve("resumed");
        String runId = "killed-run";
        List<String> args = JobRuns.demoArgs(model, input, output, "--set", "spark.master=local[2]", "--set", SLICES);
        Process driver = JobRuns.startDriver(concat(args, "--run-id", runId), tmp.resolve("killed.log"));
        long finished;
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while ((finished = JobRuns.finishedPartitions(output, runId)) < 2 && driver.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(driver.isAlive(), "the run ended before it could be killed: " + Files.readString(
                    tmp.resolve("killed.log")));
        } finally {
            driver.destroyForcibly().waitFor(); // SIGKILL: no shutdown hook runs
        }
        finished = JobRuns.finishedPartitions(output, runId);
        int partitions = JobEndToEndTest.table(reference, Tables.MANIFEST).get(0).getInt(
                JobEndToEndTest.table(reference, Tables.MANIFEST).get(0).fieldIndex("partitions"));
        assertTrue(finished >= 2 && finished < partitions, finished + " of " + partitions + " partitions finished");
        assertFalse(Files.exists(output.resolve(Tables.MANIFEST)), "no manifest: nothing looks complete");

        // Refused: another configuration, then an edited input.
        Fixtures.Forked otherConfig = JobRuns.runDriver(concat(args, "--set", "n_steps=4", "--resume", runId),
                tmp.resolve("refused-config.log"), 5);
        assertEquals(2, otherConfig.status(), otherConfig.output());
        assertTrue(otherConfig.output().contains("--resume killed-run refused: configuration key n_steps was '8', "
                + "now '4'"), otherConfig.output());
        byte[] original = Files.readAllBytes(input);
        Files.writeString(input, new String(original, StandardCharsets.UTF_8).replace("One long string of cliches",
                "One long string of cliches!"));
        Fixtures.Forked editedInput = JobRuns.runDriver(concat(args, "--resume-or-start", runId),
                tmp.resolve("refused-input.log"), 5);
        assertEquals(2, editedInput.status(), editedInput.output());
        assertTrue(editedInput.output().contains("the input changed"), editedInput.output());
        Files.write(input, original);
        assertEquals(finished, JobRuns.finishedPartitions(output, runId), "a refused resume computes nothing");

        long t1 = System.nanoTime();
        Fixtures.Forked resumed = JobRuns.runDriver(concat(args, "--resume", runId), tmp.resolve("resumed.log"), 10);
        double resumeSeconds = (System.nanoTime() - t1) / 1e9;
        assertEquals(0, resumed.status(), resumed.output());
        assertTrue(resumed.output().contains("resuming killed-run: " + finished + " of " + partitions
                + " partitions already finished"), resumed.output());
        Row manifest = JobEndToEndTest.table(output, Tables.MANIFEST).get(0);
        assertEquals(finished, manifest.getInt(manifest.fieldIndex("partitions_reused")));
        assertEquals(runId, manifest.getString(manifest.fieldIndex("run_id")));
        assertEquals(ROWS, manifest.getLong(manifest.fieldIndex("input_rows")));
        JobRuns.assertSameTables(reference, output, 0);
        for (String table : List.of(Tables.HEAD_STATS, Tables.TOKEN_IMPORTANCE)) {
            assertTrue(JobEndToEndTest.table(output, table).stream().map(r -> r.<String>getAs("slice")).distinct()
                    .count() == 6, table + ": all and the 5 slice definitions, compared above");
        }
        try (var files = Files.list(output)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().startsWith(RunLedger.STAGING_PREFIX)),
                    "the committed run leaves no staging folder");
        }
        System.out.printf(java.util.Locale.ROOT, "resume: uninterrupted run %.1f s; killed after %d of %d partitions;"
                + " resume %.1f s for the remaining %.0f%% of the work%n", wholeSeconds, finished, partitions,
                resumeSeconds, 100.0 * (partitions - finished) / partitions);
    }

    private static List<String> concat(List<String> args, String... more) {
        List<String> all = new java.util.ArrayList<>(args);
        all.addAll(List.of(more));
        return all;
    }
}
