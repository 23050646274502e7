package io.attributionatlas.job;

import com.google.gson.GsonBuilder;
import io.attributionatlas.analysis.CorpusStatistics;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.storage.StorageLevel;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;

/**
 * The Spark application. The driver validates configuration and model before Spark starts, reads the
 * corpus, marks duplicate ids, lets each task explain its rows with the executor's shared model, writes
 * the per-sample tables and the aggregate tables merged from per-partition statistics, checks that
 * every input row is a sample or an error, and commits all tables at once, manifest last.
 */
public final class AttributionJob {

    private AttributionJob() {
    }

    /** What a run produced. */
    public record Result(String output, long inputRows, long samples, long errors, double seconds,
            CorpusStatistics statistics) {
    }

    public static void main(String[] args) {
        System.exit(JobCli.run(args, System.out, System.err));
    }

    public static Result run(JobConfig config, String runId, PrintStream log) {
        Instant started = Instant.now();
        long t0 = System.nanoTime();
        // Fails fast, before any Spark stage: unreadable model, unsupported architecture, bad options.
        ExecutorModels.explainer(config);
        String fingerprint = fingerprint(ExecutorModels.localCopy(config.required("model.path")));
        String output = config.required("output.path");
        config.required("input.path");

        // A session that already exists (a notebook's, a host application's) is used and left running.
        boolean ownSession = SparkSession.getActiveSession().isEmpty() && SparkSession.getDefaultSession().isEmpty();
        SparkSession.Builder builder = SparkSession.builder().appName("attribution-atlas " + runId);
        if (System.getProperty("spark.master") == null) {
            builder.master(config.get("spark.master"));
        }
        SparkSession spark = builder.config("spark.ui.enabled", "false").getOrCreate();
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            Dataset<Row> corpus = CorpusReader.read(spark, config).persist(StorageLevel.MEMORY_AND_DISK());
            long inputRows = corpus.count();
            Map<String, Long> duplicates = duplicateIds(corpus);
            Broadcast<Map<String, Long>> duplicatesBroadcast = jsc.broadcast(duplicates);
            LongAccumulator samples = jsc.sc().longAccumulator("atlas.samples");
            LongAccumulator errors = jsc.sc().longAccumulator("atlas.errors");
            LongAccumulator tokens = jsc.sc().longAccumulator("atlas.tokens");
            LongAccumulator engineMillis = jsc.sc().longAccumulator("atlas.engine_ms");
            CollectionAccumulator<String> executors = jsc.sc().collectionAccumulator("atlas.executors");
            // About four engine batches per task, in whole waves of the available task slots.
            int slots = Math.max(1, jsc.defaultParallelism());
            long wanted = Math.min(10_000, Math.max(1, inputRows / Math.max(1, 4L * config.integer("batch.samples"))));
            int partitions = (int) (slots * ((wanted + slots - 1) / slots));
            JavaRDD<JobRecord> records = corpus.javaRDD().repartition(partitions)
                    .mapPartitions(new PartitionProcessor(config, duplicatesBroadcast, samples, errors, tokens,
                            engineMillis, executors))
                    // Serialized: records are read by five actions below; Spark spills what its memory cannot hold.
                    .persist(StorageLevel.MEMORY_AND_DISK_SER());
            CorpusStatistics statistics = records.filter(r -> r.statistics() != null).map(JobRecord::statistics)
                    .reduce(CorpusStatistics::merge);
            long sampleRows = records.filter(r -> Tables.SAMPLES.equals(r.table())).count();
            long errorRows = records.filter(r -> Tables.ERRORS.equals(r.table())).count();
            if (sampleRows + errorRows != inputRows) {
                throw new IllegalStateException("accounting failed: " + inputRows + " input rows but " + sampleRows
                        + " samples + " + errorRows + " errors; nothing was committed");
            }
            TableWriter writer = new TableWriter(spark, output, runId);
            writer.write(Tables.SAMPLES, spark.createDataFrame(rows(records, Tables.SAMPLES), Tables.SAMPLES_SCHEMA));
            writer.write(Tables.SAMPLE_MATRICES, spark.createDataFrame(rows(records, Tables.SAMPLE_MATRICES),
                    Tables.MATRICES_SCHEMA));
            writer.write(Tables.ERRORS, spark.createDataFrame(rows(records, Tables.ERRORS), Tables.ERRORS_SCHEMA));
            writer.write(Tables.HEAD_STATS, spark.createDataFrame(Tables.headStats(statistics),
                    Tables.HEAD_STATS_SCHEMA));
            writer.write(Tables.HEAD_RELATIONS, spark.createDataFrame(Tables.headRelations(statistics,
                    config.integer("top_k")), Tables.HEAD_RELATIONS_SCHEMA));
            writer.write(Tables.LAYER_CORRELATIONS, spark.createDataFrame(Tables.layerCorrelations(statistics),
                    Tables.LAYER_CORRELATIONS_SCHEMA));
            writer.write(Tables.HEAD_SIMILARITY, spark.createDataFrame(Tables.headSimilarity(statistics),
                    Tables.HEAD_SIMILARITY_SCHEMA));
            writer.write(Tables.TOKEN_IMPORTANCE, spark.createDataFrame(Tables.tokenImportance(statistics),
                    Tables.TOKEN_IMPORTANCE_SCHEMA));
            double seconds = (System.nanoTime() - t0) / 1e9;
            Map<String, String> versions = new LinkedHashMap<>();
            versions.put("attribution_atlas", AttributionJob.class.getPackage().getImplementationVersion() == null
                    ? "dev" : AttributionJob.class.getPackage().getImplementationVersion());
            versions.put("java", System.getProperty("java.version"));
            versions.put("spark", spark.version());
            versions.put("djl", ai.djl.engine.Engine.getDjlVersion());
            versions.put("pytorch", ai.djl.engine.Engine.getEngine("PyTorch").getVersion());
            String configJson = new GsonBuilder().create().toJson(new java.util.TreeMap<>(config.asMap()));
            Row manifest = org.apache.spark.sql.RowFactory.create(runId, started.toString(), Instant.now().toString(),
                    config.get("model.path"), fingerprint, configJson, new GsonBuilder().create().toJson(versions),
                    inputRows, sampleRows, errorRows, tokens.value(), seconds, sampleRows / Math.max(seconds, 1e-9),
                    engineMillis.value() / 1000.0, slots, ExecutorRecord.json(executors.value()));
            writer.write(Tables.MANIFEST, spark.createDataFrame(List.of(manifest), Tables.MANIFEST_SCHEMA));
            writer.commit();
            records.unpersist();
            corpus.unpersist();
            log.printf(Locale.ROOT, "atlas run: %d input rows -> %d samples + %d errors in %.1f s (%.2f samples/s; "
                    + "engine busy %.1f s over %d task slots = %.0f%% of the run); tables in %s%n", inputRows, sampleRows,
                    errorRows, seconds, sampleRows / seconds, engineMillis.value() / 1000.0, slots,
                    100 * engineMillis.value() / 1000.0 / (seconds * slots), output);
            return new Result(output, inputRows, sampleRows, errorRows, seconds, statistics);
        } finally {
            if (ownSession) {
                spark.stop();
            }
        }
    }

    private static JavaRDD<Row> rows(JavaRDD<JobRecord> records, String table) {
        return records.filter(r -> table.equals(r.table())).map(JobRecord::row);
    }

    /** Ids used by more than one row → the row index of their first use (later rows become errors). */
    private static Map<String, Long> duplicateIds(Dataset<Row> corpus) {
        Map<String, Long> first = new HashMap<>();
        for (Row r : corpus.groupBy("id").agg(functions.count("*").as("n"), functions.min("row_index").as("first"))
                .filter("n > 1").collectAsList()) {
            first.put(r.getString(0), r.getLong(2));
        }
        return first;
    }

    /** SHA-256 over the model directory's config, weights and tokenizer files. */
    static String fingerprint(java.nio.file.Path dir) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            List<java.nio.file.Path> files = new ArrayList<>();
            try (var stream = Files.list(dir)) {
                stream.filter(Files::isRegularFile).sorted().forEach(files::add);
            }
            for (java.nio.file.Path f : files) {
                String name = f.getFileName().toString();
                if (name.endsWith(".json") || name.endsWith(".safetensors") || name.equals("vocab.txt")) {
                    digest.update(name.getBytes(java.nio.charset.StandardCharsets.UTF_8));
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

    static String newRunId() {
        return Instant.now().toString().replaceAll("[^0-9]", "").substring(0, 14) + "-"
                + UUID.randomUUID().toString().substring(0, 8);
    }
}
