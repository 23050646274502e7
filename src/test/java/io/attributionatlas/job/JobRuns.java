package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;

/** Jobs run as their own processes (drivers that can be killed) and their tables compared. */
final class JobRuns {

    /** The per-sample and aggregate tables; the manifest differs by construction (run id, times). */
    static final List<String> TABLES = List.of(Tables.SAMPLES, Tables.SAMPLE_MATRICES, Tables.TOKEN_EMBEDDINGS, Tables.ERRORS,
            Tables.HEAD_STATS, Tables.HEAD_RELATIONS, Tables.LAYER_CORRELATIONS, Tables.HEAD_SIMILARITY,
            Tables.TOKEN_IMPORTANCE, Tables.METHOD_AGREEMENT, Tables.FAITHFULNESS, Tables.SLICE_CONTRASTS);

    private JobRuns() {
    }

    /** The first {@code rows} rows of the demo corpus (real SST-2 sentences), as a CSV file. */
    static Path demoSlice(Path dir, int rows) throws IOException {
        Path slice = dir.resolve("demo-" + rows + ".csv");
        List<String> lines = Files.readAllLines(Path.of("src/demo/sst2-dev-500.csv"), StandardCharsets.UTF_8);
        Files.write(slice, lines.subList(0, rows + 1), StandardCharsets.UTF_8);
        return slice;
    }

    /** The job's arguments on the demo model for a demo slice; {@code extra} are more arguments. */
    static List<String> demoArgs(String model, Path input, Path output, String... extra) {
        List<String> args = new ArrayList<>(List.of("run", "--model", model, "--input", input.toString(),
                "--output", output.toString(), "--set", "input.text_column=sentence", "--set",
                "input.label_column=label", "--set", "n_steps=8", "--set", "batch.samples=4", "--set",
                "internal_batch_size=16", "--set", "dump.count=2", "--set", "engine.threads=1", "--set",
                "embeddings.sample_rate=0.2"));
        args.addAll(List.of(extra));
        return args;
    }

    /** A driver JVM running the job (local mode unless the arguments say otherwise), its output in {@code log}. */
    static Process startDriver(List<String> args, Path log) throws IOException {
        List<String> command = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-Xmx1g"));
        command.addAll(List.of(Fixtures.jvmFlags().split("\\s+")));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), AttributionJob.class.getName()));
        command.addAll(args);
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        builder.environment().put("MALLOC_ARENA_MAX", "2");
        return builder.start();
    }

    /** Runs a driver to its end; its exit status and output. */
    static Fixtures.Forked runDriver(List<String> args, Path log, int minutes) throws Exception {
        Process p = startDriver(args, log);
        try {
            if (!p.waitFor(minutes, TimeUnit.MINUTES)) {
                throw new IllegalStateException("the job did not finish in " + minutes + " min; see " + log);
            }
            return new Fixtures.Forked(p.exitValue(), Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
    }

    /** The partitions finished in the ledger of run {@code runId} under {@code output}. */
    static long finishedPartitions(Path output, String runId) throws IOException {
        Path ledger = output.resolve(RunLedger.STAGING_PREFIX + runId).resolve("ledger");
        if (!Files.isDirectory(ledger)) {
            return 0;
        }
        try (Stream<Path> parts = Files.list(ledger)) {
            return parts.filter(p -> p.getFileName().toString().startsWith("part-")).count();
        }
    }

    /**
     * Every table of {@code actual} equals {@code expected}: the same rows (in a canonical order) with every
     * floating-point value within {@code tolerance} (0: bit for bit) and everything else equal.
     */
    static void assertSameTables(Path expected, Path actual, double tolerance) {
        assertSameTables(expected, actual, tolerance, false);
    }

    /**
     * As {@link #assertSameTables(Path, Path, double)}; with {@code relative}, a value may differ by {@code tolerance}
     * × max(1, |expected|) (sums over many samples, from another device's arithmetic).
     */
    static void assertSameTables(Path expected, Path actual, double tolerance, boolean relative) {
        for (String table : TABLES) {
            List<Row> a = sorted(JobEndToEndTest.table(expected, table));
            List<Row> b = sorted(JobEndToEndTest.table(actual, table));
            assertEquals(a.size(), b.size(), table + ": row count");
            for (int i = 0; i < a.size(); i++) {
                assertSame(a.get(i), b.get(i), tolerance, relative, table + " row " + i);
            }
        }
    }

    private static List<Row> sorted(List<Row> rows) {
        List<Row> out = new ArrayList<>(rows);
        out.sort(Comparator.comparing(JobRuns::key).thenComparing(Row::toString));
        return out;
    }

    /** The row's non-floating scalar fields: strings, integers, booleans. */
    private static String key(Row r) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < r.length(); i++) {
            Object v = r.get(i);
            if (v instanceof String || v instanceof Integer || v instanceof Long || v instanceof Boolean) {
                b.append(v).append('\u0001');
            }
        }
        return b.toString();
    }

    private static void assertSame(Object a, Object b, double tolerance, boolean relative, String where) {
        if (a instanceof Row ra && b instanceof Row rb) {
            assertEquals(ra.length(), rb.length(), where);
            for (int i = 0; i < ra.length(); i++) {
                assertSame(ra.get(i), rb.get(i), tolerance, relative, where + "." + ra.schema().fieldNames()[i]);
            }
        } else if (a instanceof scala.collection.Seq<?> sa && b instanceof scala.collection.Seq<?> sb) {
            assertEquals(sa.size(), sb.size(), where + " length");
            for (int i = 0; i < sa.size(); i++) {
                assertSame(sa.apply(i), sb.apply(i), tolerance, relative, where + "[" + i + "]");
            }
        } else if ((a instanceof Double || a instanceof Float) && (b instanceof Double || b instanceof Float)) {
            double x = ((Number) a).doubleValue();
            double y = ((Number) b).doubleValue();
            double allowed = relative ? tolerance * Math.max(1, Math.abs(x)) : tolerance;
            assertTrue(tolerance == 0 ? Double.compare(x, y) == 0 : Math.abs(x - y) <= allowed
                    || Double.isNaN(x) && Double.isNaN(y), where + ": " + x + " vs " + y);
        } else {
            assertEquals(a, b, where);
        }
    }
}
