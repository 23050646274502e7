package io.attributionatlas.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.job.SyntheticCorpus;
import io.attributionatlas.schema.Json;
import io.attributionatlas.schema.Table;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code atlas bench-job}: the corpus job's own costs as the corpus grows. For each size it generates a seeded
 * {@link SyntheticCorpus}, runs the real job on it in local mode with a tiny seeded model (2 layers, hidden 32: the
 * engine is cheap, so the job's machinery shows) in a process of its own, and records wall time and rows/s, the
 * process's peak RSS (in local mode the driver and the executors are that one JVM; with {@code --master} on a
 * standalone cluster the driver's, and each executor's from Spark's executor metrics), the job's stages and the
 * manifest's engine, statistics and writing seconds, the files and bytes of every table and of the ledger, and the
 * accounting (samples + errors = rows).
 */
final class JobBenchCommand implements AtlasCli.Command {

    private static final int LAYERS = SyntheticCorpus.TINY_LAYERS;
    private static final int HEADS = SyntheticCorpus.TINY_HEADS;
    private static final int HIDDEN = SyntheticCorpus.TINY_HIDDEN;
    private static final String RSS_MARK = "ATLAS_BENCH_PEAK_RSS_KB=";

    @Override
    public String usage() {
        return "bench-job [--sizes 10000,100000,1000000] [--dir target/bench/job] [--json target/bench/job.json] "
                + "[--heap 2g] [--seed 1] [--master spark://HOST:PORT [--executors 2]] [--set key=value]...";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        List<String> sets = new ArrayList<>();
        List<String> rest = new ArrayList<>();
        for (int i = 1; i < args.length; i++) { // --set may repeat: the job's own overrides
            if (args[i].equals("--set") && i + 1 < args.length) {
                sets.add(args[++i]);
            } else {
                rest.add(args[i]);
            }
        }
        Arguments a = new Arguments(rest.toArray(String[]::new), 0, Set.of("sizes", "dir", "json", "heap", "seed",
                "master", "executors"));
        String master = a.get("master");
        long executors = a.integer("executors", 2, 1);
        List<Long> sizes = new ArrayList<>();
        for (String s : (a.get("sizes") == null ? "10000,100000,1000000" : a.get("sizes")).split(",")) {
            sizes.add(Long.parseLong(s.trim()));
        }
        Path dir = Path.of(a.get("dir") == null ? "target/bench/job" : a.get("dir"));
        Path json = Path.of(a.get("json") == null ? "target/bench/job.json" : a.get("json"));
        String heap = a.get("heap") == null ? "2g" : a.get("heap");
        long seed = a.integer("seed", 1, 0);
        Files.createDirectories(dir);
        Path model = dir.resolve("tiny-model");
        if (!Files.exists(model.resolve("model.safetensors"))) {
            SyntheticCorpus.tinyModel(model, seed);
        }
        SyntheticCorpus generator = SyntheticCorpus.forTokenizer(model.resolve("tokenizer.json"));
        JsonArray results = new JsonArray();
        for (long rows : sizes) {
            Path corpus = dir.resolve("corpus-" + rows + ".jsonl");
            double generateSeconds = 0;
            if (!Files.exists(corpus)) {
                long g0 = System.nanoTime();
                Path partial = dir.resolve("corpus-" + rows + ".jsonl.partial");
                generator.write(partial, rows, seed);
                Files.move(partial, corpus, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
                generateSeconds = (System.nanoTime() - g0) / 1e9;
            }
            Path output = dir.resolve("run-" + rows);
            deleteTree(output);
            Path log = dir.resolve("run-" + rows + ".log");
            // The heap fixed and touched up front: resident in full at every size, so that what grows is the rest.
            List<String> command = new ArrayList<>(List.of("/usr/bin/time", "-f", RSS_MARK + "%M"));
            if (master == null) {
                command.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                        "-Xms" + heap, "-Xmx" + heap, "-XX:+AlwaysPreTouch"));
                command.addAll(List.of(jvmFlags().split("\\s+")));
                command.addAll(List.of("-Dlog4j2.configurationFile=conf/log4j2.properties", "-cp",
                        System.getProperty("java.class.path"), "io.attributionatlas.job.AttributionJob", "run"));
            } else {
                // a cluster: the driver is this submit's JVM (client mode), the executors are the workers' children,
                // their heaps fixed and touched up front as the local run's (this --conf comes after submit.sh's own)
                command.addAll(List.of("scripts/submit.sh", "--master", master, "--driver-memory", heap,
                        "--executor-memory", heap, "--executor-cores", "1", "--total-executor-cores",
                        String.valueOf(executors), "--conf", "spark.executor.extraJavaOptions=" + jvmFlags() + " -Xms"
                        + heap + " -XX:+AlwaysPreTouch", "--"));
            }
            command.addAll(List.of("--model", model.toAbsolutePath().toString(), "--input",
                    corpus.toAbsolutePath().toString(), "--output", output.toAbsolutePath().toString(), "--set",
                    "input.label_column=label"));
            for (String s : sets) {
                command.addAll(List.of("--set", s));
            }
            ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
            builder.environment().put("MALLOC_ARENA_MAX", "2");
            err.printf(Locale.ROOT, "atlas bench-job: %,d rows ...%n", rows);
            long t0 = System.nanoTime();
            int status = builder.start().waitFor();
            double wall = (System.nanoTime() - t0) / 1e9;
            String text = Files.readString(log, StandardCharsets.UTF_8);
            if (status != 0) {
                throw new IllegalStateException("the job failed on " + rows + " rows (exit " + status + "); see " + log);
            }
            JsonObject r = new JsonObject();
            r.addProperty("rows", rows);
            r.addProperty("corpus_bytes", Files.size(corpus));
            r.addProperty("generate_seconds", generateSeconds);
            r.addProperty("wall_seconds", wall);
            r.addProperty("rows_per_second", rows / wall);
            long rssKb = Long.parseLong(text.substring(text.lastIndexOf(RSS_MARK) + RSS_MARK.length()).trim()
                    .split("\\s+")[0]);
            r.addProperty("peak_rss_mb", rssKb / 1024.0);
            r.addProperty("peak_rss_note", master == null ? "local mode: the driver and the executors are one JVM; "
                    + "its heap (-Xms = -Xmx " + heap + ", pre-touched) is resident in full" : "cluster " + master
                    + ": the driver's JVM (-Xmx " + heap + "); executors_peak_rss_mb from Spark's executor metrics "
                    + "(-Xms = -Xmx " + heap + ", pre-touched)");
            readManifest(output, r);
            r.add("tables", files(output));
            results.add(r);
            err.printf(Locale.ROOT, "atlas bench-job: %,d rows in %.1f s (%.0f rows/s), peak RSS %.0f MB%n", rows, wall,
                    rows / wall, rssKb / 1024.0);
        }
        JsonObject report = new JsonObject();
        report.addProperty("model", LAYERS + " layers, " + HEADS + " heads, hidden " + HIDDEN + " (seeded random)");
        report.addProperty("generator", "Zipf(1) over " + generator.vocabularySize() + " words, "
                + SyntheticCorpus.MIN_WORDS + "-" + SyntheticCorpus.MAX_WORDS + " words a row, 1 row in "
                + SyntheticCorpus.MALFORMED_EVERY + " malformed");
        report.addProperty("settings", String.join(" ", sets));
        String preload = System.getenv("LD_PRELOAD");
        report.addProperty("allocator", preload == null || preload.isBlank() ? "glibc, MALLOC_ARENA_MAX=2" : preload);
        report.addProperty("cores", Runtime.getRuntime().availableProcessors());
        report.add("sizes", results);
        if (results.size() >= 2) {
            JsonObject last = results.get(results.size() - 1).getAsJsonObject();
            JsonObject before = results.get(results.size() - 2).getAsJsonObject();
            report.addProperty("time_ratio_last_two", last.get("wall_seconds").getAsDouble()
                    / before.get("wall_seconds").getAsDouble());
            report.addProperty("rss_ratio_last_two", last.get("peak_rss_mb").getAsDouble()
                    / before.get("peak_rss_mb").getAsDouble());
            report.addProperty("driver_rss_ratio_last_two", last.get("driver_peak_rss_mb").getAsDouble()
                    / before.get("driver_peak_rss_mb").getAsDouble());
            report.addProperty("executors_rss_ratio_last_two", last.get("executors_peak_rss_mb").getAsDouble()
                    / before.get("executors_peak_rss_mb").getAsDouble());
        }
        Files.createDirectories(json.toAbsolutePath().getParent());
        Files.writeString(json, Json.PRETTY.toJson(report));
        out.println(Json.PRETTY.toJson(report));
        return 0;
    }

    /** The manifest's accounting, stages, engine / statistics / writing seconds and ledger size. */
    private static void readManifest(Path output, JsonObject into) {
        boolean own = SparkSession.getActiveSession().isEmpty();
        SparkSession spark = SparkSession.builder().appName("bench-job").master("local[1]")
                .config("spark.ui.enabled", "false").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        try {
            Row m = spark.read().parquet(output.resolve(Table.MANIFEST.tableName()).toString()).first();
            for (String f : List.of("input_rows", "samples", "errors", "ledger_files", "ledger_bytes", "tokens")) {
                into.addProperty(f, m.<Long>getAs(f));
            }
            into.addProperty("accounted", m.<Long>getAs("samples") + m.<Long>getAs("errors")
                    == m.<Long>getAs("input_rows"));
            for (String f : List.of("seconds", "engine_seconds", "statistics_seconds", "writing_seconds")) {
                into.addProperty("job_" + f, m.<Double>getAs(f));
            }
            into.addProperty("partitions", m.<Integer>getAs("partitions"));
            into.add("stage_seconds", JsonParser.parseString(m.<String>getAs("stage_seconds_json")));
            JsonObject memory = JsonParser.parseString(m.<String>getAs("memory_json")).getAsJsonObject();
            into.add("memory", memory);
            into.addProperty("driver_peak_rss_mb", memory.get("driver_vmhwm_mb").getAsDouble());
            into.addProperty("executors_peak_rss_mb", memory.getAsJsonObject("executors_rss_mb").entrySet().stream()
                    .mapToDouble(e -> e.getValue().getAsDouble()).max().orElse(-1));
        } finally {
            if (own) {
                spark.stop();
            }
        }
    }

    /** Per table: its Parquet files, their total and median bytes. */
    private static JsonObject files(Path output) throws IOException {
        JsonObject tables = new JsonObject();
        for (Table t : Table.values()) {
            Path folder = output.resolve(t.tableName());
            if (!Files.isDirectory(folder)) {
                continue;
            }
            List<Long> sizes;
            try (Stream<Path> s = Files.list(folder)) {
                sizes = s.filter(p -> p.getFileName().toString().endsWith(".parquet")).map(p -> {
                    try {
                        return Files.size(p);
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }).sorted().toList();
            }
            JsonObject o = new JsonObject();
            o.addProperty("files", sizes.size());
            o.addProperty("bytes", sizes.stream().mapToLong(Long::longValue).sum());
            o.addProperty("median_file_bytes", sizes.isEmpty() ? 0 : sizes.get(sizes.size() / 2));
            tables.add(t.tableName(), o);
        }
        return tables;
    }

    static String jvmFlags() throws IOException {
        for (String l : Files.readAllLines(Path.of("conf/jvm.properties"))) {
            if (l.startsWith("atlas.jvm.flags=")) {
                return l.substring("atlas.jvm.flags=".length()).trim();
            }
        }
        throw new IllegalStateException("conf/jvm.properties has no atlas.jvm.flags");
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(p)) {
            for (Path x : walk.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(x);
            }
        }
    }
}
