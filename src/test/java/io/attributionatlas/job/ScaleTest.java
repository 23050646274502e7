package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The scale benchmark's generator and the job at 20k rows with its tiny model (scripts/scale-bench runs 10k to 1M):
 * every row accounted for, memory flat from 5k to 20k rows, and a driver killed halfway through 20k rows resumed to
 * tables equal to an uninterrupted run's.
 */
class ScaleTest {

    private static final int SMALL = 5_000;
    private static final int LARGE = 20_000;
    /**
     * The heap is fixed and touched up front (-Xms = -Xmx, AlwaysPreTouch), so it is resident in full at both sizes
     * and cannot hide growth; what remains is native memory (libtorch's allocator holds the largest pass's tensors,
     * the same at both sizes: passes of 256 rows) and glibc's arenas, whose retained free blocks vary from run to run
     * by tens of MB. So: at most 10% + 64 MB more at 4× the rows; growth with the row count would be 4×.
     */
    private static final double GROWTH = 1.10;
    private static final long NOISE_MB = 64;
    private static final String HEAP = "1g";

    @TempDir
    static Path tmp;

    @AfterAll
    static void stopReader() {
        JobEndToEndTest.stopReader();
    }

    @Test
    void rowsAreAccountedMemoryStaysFlatAndAResumeEqualsAnUninterruptedRun() throws Exception {
        Path model = SyntheticCorpus.tinyModel(tmp.resolve("tiny-model"), 1);
        SyntheticCorpus generator = SyntheticCorpus.forTokenizer(model.resolve("tokenizer.json"));
        assertTrue(generator.vocabularySize() > 50_000, generator.vocabularySize() + " distinct words");
        long[] peaks = new long[2];
        Path largeInput = null;
        Path reference = null;
        int[] sizes = {SMALL, LARGE};
        for (int i = 0; i < sizes.length; i++) {
            Path input = tmp.resolve("corpus-" + sizes[i] + ".jsonl");
            long malformed = generator.write(input, sizes[i], 1);
            Path output = tmp.resolve("run-" + sizes[i]);
            Fixtures.Forked run = Fixtures.fork(List.of("-Xms" + HEAP, "-Xmx" + HEAP, "-XX:+AlwaysPreTouch"),
                    PeakMemoryMain.class, args(model, input, output), 10);
            assertEquals(0, run.status(), run.output());
            peaks[i] = Long.parseLong(run.output().substring(run.output().lastIndexOf("VmHWM_MB=") + 9).trim());
            Row m = JobEndToEndTest.table(output, Tables.MANIFEST).get(0);
            assertEquals(sizes[i], m.<Long>getAs("input_rows"));
            assertEquals(sizes[i], m.<Long>getAs("samples") + m.<Long>getAs("errors"), "every row accounted for");
            assertEquals(malformed, m.<Long>getAs("errors"), "the generator's malformed rows, and only they");
            assertEquals(m.<Long>getAs("samples"), JobEndToEndTest.table(output, Tables.SAMPLES).size());
            largeInput = input;
            reference = output;
        }
        System.out.printf(java.util.Locale.ROOT, "scale: peak resident %d MB at %d rows, %d MB at %d rows%n", peaks[0],
                SMALL, peaks[1], LARGE);
        assertTrue(peaks[1] <= GROWTH * peaks[0] + NOISE_MB, "peak resident memory grew from " + peaks[0] + " MB at "
                + SMALL + " rows to " + peaks[1] + " MB at " + LARGE);

        Path resumed = tmp.resolve("resumed");
        String runId = "scale-killed";
        List<String> args = args(model, largeInput, resumed);
        args.addAll(List.of("--run-id", runId));
        Process driver = JobRuns.startDriver(args, tmp.resolve("killed.log"));
        int partitions = JobEndToEndTest.table(reference, Tables.MANIFEST).get(0).<Integer>getAs("partitions");
        try {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
            while (JobRuns.finishedPartitions(resumed, runId) < partitions / 2 && driver.isAlive()
                    && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(driver.isAlive(), "the run ended before it could be killed");
        } finally {
            driver.destroyForcibly().waitFor(); // SIGKILL halfway
        }
        long finished = JobRuns.finishedPartitions(resumed, runId);
        assertTrue(finished >= partitions / 2 && finished < partitions, finished + " of " + partitions);
        List<String> resume = args(model, largeInput, resumed);
        resume.addAll(List.of("--resume", runId));
        Fixtures.Forked done = JobRuns.runDriver(resume, tmp.resolve("resumed.log"), 10);
        assertEquals(0, done.status(), done.output());
        Row m = JobEndToEndTest.table(resumed, Tables.MANIFEST).get(0);
        assertEquals(finished, (long) m.<Integer>getAs("partitions_reused"));
        JobRuns.assertSameTables(reference, resumed, 0);
    }

    /** The benchmark's settings: forward-only analyses (the engine cheap), passes of 256 rows, 2 task slots. */
    private static List<String> args(Path model, Path input, Path output) {
        return new ArrayList<>(List.of("run", "--model", model.toString(), "--input", input.toString(), "--output",
                output.toString(), "--set", "input.label_column=label", "--set", "level=attention", "--set",
                "batch.samples=256", "--set", "spark.master=local[2]", "--set", "engine.threads=1"));
    }
}
