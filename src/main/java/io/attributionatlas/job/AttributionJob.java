package io.attributionatlas.job;

import io.attributionatlas.schema.Json;
import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.SlicedStatistics;
import io.attributionatlas.analysis.Slices;
import io.attributionatlas.schema.Keys;
import java.io.PrintStream;
import java.time.Instant;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.spark.HashPartitioner;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.StructType;
import org.apache.spark.storage.StorageLevel;
import scala.Tuple2;

/**
 * The Spark application, in stages. The driver validates configuration and model before Spark starts, reads
 * the corpus and records what the run is (configuration, model and input fingerprints, partitioning) in the
 * run's staging folder. Stage one: each task explains one partition's rows with the executor's shared model
 * and writes them, with the partition's statistics, into the run's ledger (see {@link RunLedger}). Stage two:
 * the per-sample tables and the aggregate tables are written from the ledger, every input row is checked to be
 * a sample or an error, and all tables are committed at once, manifest last. A killed run is finished with
 * {@code --resume RUN_ID}, which computes only the partitions the ledger lacks.
 */
public final class AttributionJob {

    private AttributionJob() {
    }

    /**
     * A finished run. {@code statistics} are the merged corpus statistics but token importance, which Spark
     * aggregates into its table; {@code topTokens} are the summary's most important word pieces per target.
     */
    public record Result(String output, long inputRows, long samples, long errors, double seconds,
            CorpusStatistics statistics, List<Row> topTokens) {
    }

    public static void main(String[] args) {
        System.exit(JobCli.run(args, System.out, System.err));
    }

    public static Result run(JobConfig config, String runId, PrintStream log) {
        return run(config, runId, false, log);
    }

    /**
     * Runs the job, or with {@code resume} finishes the unfinished run {@code runId} (same command, same input):
     * the partitions its ledger holds are reused and only the others are computed.
     */
    public static Result run(JobConfig config, String runId, boolean resume, PrintStream log) {
        long t0 = System.nanoTime();
        log.println("atlas run: checking the input and the model ...");
        String modelUri = config.required("model.path");
        String output = config.required("output.path");
        config.required("input.path");
        // Fails fast, before any Spark stage: unreadable model, unsupported architecture, bad options.
        Configuration preSpark = hadoopConfiguration();
        InputCheck.check(config, preSpark); // first: it takes milliseconds, the model's checks load native libraries
        String fingerprint = ExecutorModels.validate(config, preSpark);

        // A session that already exists (a notebook's, a host application's) is used and left running.
        boolean ownSession = SparkSession.getActiveSession().isEmpty() && SparkSession.getDefaultSession().isEmpty();
        SparkSession.Builder builder = SparkSession.builder().appName("attribution-atlas " + runId);
        if (System.getProperty("spark.master") == null) {
            builder.master(config.get("spark.master"));
        }
        if (ownSession) {
            MemoryPeaks.SPARK_SETTINGS.forEach(builder::config);
        }
        log.printf(Locale.ROOT, "atlas run: input and model checked in %.1f s; starting Spark (%s) ...%n",
                (System.nanoTime() - t0) / 1e9, System.getProperty("spark.master", config.get("spark.master")));
        if (System.getProperty("spark.ui.enabled") == null) { // spark-submit --conf spark.ui.enabled=… decides
            // the UI (whose jobs page shows each stage's description) on clusters; none in local runs and tests
            builder.config("spark.ui.enabled", String.valueOf(!System.getProperty("spark.master",
                    config.get("spark.master")).startsWith("local")));
        }
        SparkSession spark = builder.getOrCreate();
        MemoryPeaks memory = new MemoryPeaks();
        spark.sparkContext().addSparkListener(memory);
        // wall seconds of each stage, in order: the scale benchmark's breakdown of the job's own costs
        Map<String, Double> stages = new LinkedHashMap<>();
        long[] mark = {t0};
        java.util.function.Consumer<String> stage = name -> {
            long now = System.nanoTime();
            stages.put(name, (now - mark[0]) / 1e9);
            mark[0] = now;
            memory.stageEnded(name);
        };
        stage.accept("start");
        try {
            JavaSparkContext jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
            HadoopConf hadoop = new HadoopConf(spark.sparkContext().hadoopConfiguration());
            long textChars = io.attributionatlas.model.TextTokenizer.readerChars(ExecutorModels.maxLength(config,
                    preSpark));
            Dataset<Row> corpus = CorpusReader.read(spark, config, textChars).persist(StorageLevel.MEMORY_AND_DISK());
            spark.sparkContext().setJobDescription("atlas: read, count and fingerprint the input");
            RunLedger.InputSummary input = RunLedger.summarize(corpus); // the pass that caches the corpus
            if (spark.sparkContext().isLocal()) {
                // Reading a giant row (parsed whole by Spark, more than once) leaves garbage that grows the heap this
                // JVM goes on to explain in; collected now, the heap the engine grows starts from what is live.
                System.gc();
            }
            long inputRows = input.rows();
            if (inputRows == 0 && !config.bool("input.allow_empty")) { // a folder InputCheck could not count
                throw new IllegalArgumentException("input.path " + config.get("input.path") + ": no rows; set "
                        + "input.allow_empty=true to run on an empty corpus");
            }
            int slots = Math.max(1, jsc.defaultParallelism());
            int batchSamples = config.samplesPerBatch(ExecutorModels.gpuExpected(config));
            RunLedger.RunInfo now = new RunLedger.RunInfo(runId, Instant.now().toString(),
                    new TreeMap<>(config.asMap()), fingerprint, input.fingerprint(), inputRows,
                    partitions(config, inputRows, slots, batchSamples));
            RunLedger ledger = resume ? RunLedger.resume(output, hadoop, now) : RunLedger.start(output, hadoop, now);
            int partitions = ledger.info().partitions();
            Set<Integer> reusedPartitions = ledger.finishedPartitions();
            int reused = reusedPartitions.size();
            stage.accept("read");
            if (resume) {
                log.printf(Locale.ROOT, "atlas run: resuming %s: %d of %d partitions already finished%n", runId,
                        reused, partitions);
            }
            Slices slices = slices(config, corpus);
            TaskAttempts attempts = new TaskAttempts("atlas-explain-" + runId);
            spark.sparkContext().addSparkListener(attempts);
            log.printf(Locale.ROOT, "atlas run: %,d rows read in %.1f s; %d partitions on %d task slot%s%n", inputRows,
                    stages.get("read"), partitions, slots, slots == 1 ? "" : "s");
            if (reused < partitions) {
                Broadcast<Map<String, Long>> duplicates = jsc.broadcast(duplicateIds(corpus));
                jsc.setJobGroup("atlas-explain-" + runId, "atlas: explain " + (partitions - reused) + " of "
                        + partitions + " partitions (" + inputRows + " rows)", false);
                Progress.Counters counters = Progress.Counters.register(spark.sparkContext());
                long reusedRows = ledger.summaries(reusedPartitions).stream().mapToLong(s -> s.samples() + s.errors())
                        .sum();
                Progress progress = new Progress(log, counters, inputRows, reusedRows, partitions, reused, slots,
                        Progress.interactiveConsole());
                spark.sparkContext().addSparkListener(progress);
                try {
                    // Row i goes to partition i mod P, sorted by row index: a partition's content, and so its
                    // results, are the same in every attempt and every run of this input.
                    corpus.javaRDD().mapToPair(r -> new Tuple2<>(r.getLong(0), r))
                            .repartitionAndSortWithinPartitions(new HashPartitioner(partitions)).values()
                            .mapPartitionsWithIndex(new PartitionProcessor(config, duplicates, slices, ledger,
                                    fingerprint, counters), false)
                            .count();
                } finally {
                    spark.sparkContext().removeSparkListener(progress); // a shared session outlives this run
                    progress.close();
                }
                jsc.clearJobGroup();
            }
            log.println("atlas run: writing the tables ...");
            spark.sparkContext().setJobDescription("atlas: write the tables");
            stage.accept("explain");
            List<RunLedger.PartitionSummary> summaries = ledger.summaries();
            long sampleRows = summaries.stream().mapToLong(RunLedger.PartitionSummary::samples).sum();
            long errorRows = summaries.stream().mapToLong(RunLedger.PartitionSummary::errors).sum();
            if (sampleRows + errorRows != inputRows) {
                throw new IllegalStateException("accounting failed: " + inputRows + " input rows but " + sampleRows
                        + " samples + " + errorRows + " errors; nothing was committed");
            }
            RunLedger.Usage ledgerUsage = ledger.usage();
            SlicedStatistics sliced = ledger.statistics(jsc);
            CorpusStatistics statistics = sliced.all();
            stage.accept("statistics");
            TableWriter writer = new TableWriter(spark, output, ledger.staging());
            writer.write(Tables.SAMPLES, ledgerTable(spark, ledger, jsc, Tables.SAMPLES));
            writer.write(Tables.SAMPLE_MATRICES, ledgerTable(spark, ledger, jsc, Tables.SAMPLE_MATRICES));
            writer.write(Tables.TOKEN_EMBEDDINGS, ledgerTable(spark, ledger, jsc, Tables.TOKEN_EMBEDDINGS));
            writer.write(Tables.ERRORS, ledgerTable(spark, ledger, jsc, Tables.ERRORS));
            int topK = config.integer("top_k");
            writer.write(Tables.HEAD_STATS, aggregate(spark, sliced, Tables::headStats, Tables.HEAD_STATS_SCHEMA));
            writer.write(Tables.HEAD_RELATIONS, aggregate(spark, sliced, (st, slice) -> Tables.headRelations(st, slice,
                    topK), Tables.HEAD_RELATIONS_SCHEMA));
            writer.write(Tables.LAYER_CORRELATIONS, aggregate(spark, sliced, Tables::layerCorrelations,
                    Tables.LAYER_CORRELATIONS_SCHEMA));
            writer.write(Tables.HEAD_SIMILARITY, aggregate(spark, sliced, Tables::headSimilarity,
                    Tables.HEAD_SIMILARITY_SCHEMA));
            writer.write(Tables.TOKEN_IMPORTANCE, Tables.tokenImportance(ledgerRows(spark, ledger, jsc,
                    Tables.TOKEN_IMPORTANCE_PARTS)).coalesce(ledgerFiles(ledger, Tables.TOKEN_IMPORTANCE_PARTS)));
            Dataset<Row> tokenImportance = writer.staged(Tables.TOKEN_IMPORTANCE); // written once, read by both
            List<Row> topTokens = JobSummary.topTokens(tokenImportance.filter(functions.col(Keys.Slice.COLUMN)
                    .equalTo(Keys.Slice.ALL)), statistics.tokenSource());
            writer.write(Tables.SLICE_CONTRASTS, SliceContrasts.table(spark, jsc, sliced, tokenImportance));
            writer.write(Tables.METHOD_AGREEMENT, aggregate(spark, sliced, Tables::methodAgreement,
                    Tables.METHOD_AGREEMENT_SCHEMA));
            writer.write(Tables.FAITHFULNESS, aggregate(spark, sliced, Tables::faithfulness,
                    Tables.FAITHFULNESS_SCHEMA));
            stage.accept("tables");
            double seconds = (System.nanoTime() - t0) / 1e9;
            long tokens = summaries.stream().mapToLong(RunLedger.PartitionSummary::tokens).sum();
            double engineSeconds = summaries.stream().mapToLong(RunLedger.PartitionSummary::engineMillis).sum() / 1000.0;
            // this invocation's engine time, for its share of this invocation's wall time (a resume reuses the rest)
            double engineSecondsNow = summaries.stream().filter(p -> !reusedPartitions.contains(p.partition()))
                    .mapToLong(RunLedger.PartitionSummary::engineMillis).sum() / 1000.0;
            double statisticsSeconds = summaries.stream().mapToLong(RunLedger.PartitionSummary::statisticsMillis).sum()
                    / 1000.0;
            double writingSeconds = summaries.stream().mapToLong(RunLedger.PartitionSummary::writingMillis).sum()
                    / 1000.0;
            Map<String, String> versions = new LinkedHashMap<>();
            versions.put("attribution_atlas", AttributionJob.class.getPackage().getImplementationVersion() == null
                    ? "dev" : AttributionJob.class.getPackage().getImplementationVersion());
            versions.put("java", System.getProperty("java.version"));
            versions.put("spark", spark.version());
            versions.put("djl", ai.djl.engine.Engine.getDjlVersion());
            versions.put("pytorch", ai.djl.engine.Engine.getEngine("PyTorch").getVersion());
            String configJson = Json.COMPACT.toJson(new TreeMap<>(config.asMap()));
            Row manifest = org.apache.spark.sql.RowFactory.create(runId, ledger.info().started(),
                    Instant.now().toString(), modelUri, fingerprint, ledger.info().inputFingerprint(), configJson,
                    Json.COMPACT.toJson(versions), inputRows, sampleRows, errorRows, tokens, seconds,
                    sampleRows / Math.max(seconds, 1e-9), engineSeconds, statisticsSeconds, writingSeconds, slots,
                    partitions, reused,
                    ExecutorRecord.json(summaries), attempts.json(), Json.COMPACT.toJson(stages), ledgerUsage.files(),
                    ledgerUsage.bytes(), memory.json());
            writer.write(Tables.MANIFEST, spark.createDataFrame(List.of(manifest), Tables.MANIFEST_SCHEMA).coalesce(1));
            writer.commit();
            corpus.unpersist();
            // one write, so that log lines of other threads sharing the stream cannot split it
            log.print(String.format(Locale.ROOT, "atlas run: %d input rows -> %d samples + %d errors in %.1f s (%.2f samples/s; "
                    + "engine busy %.1f s over %d task slots = %.0f%% of this run, statistics %.1f s = %.1f%% of the "
                    + "engine's, writing %.1f s beside it; %d of %d partitions reused); tables in %s%n", inputRows,
                    sampleRows, errorRows, seconds, sampleRows / seconds, engineSecondsNow, slots,
                    100 * engineSecondsNow / (seconds * slots), statisticsSeconds,
                    100 * statisticsSeconds / Math.max(engineSeconds, 1e-9), writingSeconds, reused, partitions,
                    output));
            return new Result(output, inputRows, sampleRows, errorRows, seconds, statistics, topTokens);
        } finally {
            spark.sparkContext().setJobDescription(null); // a shared session's later jobs are not ours
            spark.sparkContext().removeSparkListener(memory);
            if (ownSession) {
                spark.stop();
            }
        }
    }

    /** An aggregate table: its rows for every slice, {@code all} first, in one file. */
    private static Dataset<Row> aggregate(SparkSession spark, SlicedStatistics sliced,
            java.util.function.BiFunction<CorpusStatistics, Keys.Slice, List<Row>> rows, StructType schema) {
        List<Row> all = new java.util.ArrayList<>();
        sliced.bySlice().forEach((slice, stats) -> all.addAll(rows.apply(stats, slice)));
        return spark.createDataFrame(all, schema).coalesce(1);
    }

    /**
     * The run's slices, the values of label and column definitions bounded before the run: the most frequent
     * {@code slices.max_values − 1} values in the input (ties by value) are kept, the rest become "other". The
     * same input gives the same values, so a resumed run slices as the first did.
     */
    private static Slices slices(JobConfig config, Dataset<Row> corpus) {
        Slices slices = config.slices();
        for (Slices.Definition d : slices.definitions()) {
            if (!d.fromInput()) {
                continue;
            }
            Column value = d.kind() == Slices.Kind.LABEL ? functions.col("label")
                    : functions.get_json_object(functions.col("raw"), "$['" + d.column().replace("'", "\\'") + "']");
            Set<String> kept = new java.util.HashSet<>();
            for (Row r : corpus.filter(functions.col("malformed").isNull()).select(value.as("value"))
                    .filter(functions.col("value").isNotNull()).groupBy("value").count()
                    .orderBy(functions.col("count").desc(), functions.col("value")).limit(slices.maxValues() - 1)
                    .collectAsList()) {
                kept.add(r.getString(0));
            }
            slices.keep(d.name(), kept);
        }
        return slices;
    }

    /** The most partitions a run has; and the fewest rows a partition of a large corpus holds (auto). */
    static final int MAX_PARTITIONS = 10_000;
    static final int MIN_PARTITION_ROWS = 1_000;

    /**
     * The ledger's partitions (the unit of work, retry and resume): {@code partitions} when set; auto, about four
     * engine batches per task, but on a large corpus at least {@value #MIN_PARTITION_ROWS} rows each (each partition
     * costs its own statistics and ledger files), at most {@value #MAX_PARTITIONS}, in whole waves of the task
     * slots.
     */
    static int partitions(JobConfig config, long rows, int slots, int batchSamples) {
        String set = config.get("partitions");
        if (!set.equals("auto")) {
            return Integer.parseInt(set);
        }
        long wanted = Math.max(1, rows / (4L * batchSamples));
        wanted = Math.min(wanted, Math.max(4L * slots, rows / MIN_PARTITION_ROWS));
        wanted = Math.min(MAX_PARTITIONS, wanted);
        return (int) Math.min(MAX_PARTITIONS, slots * ((wanted + slots - 1) / slots));
    }

    /** Binary-row bytes of the ledger per output file of a per-sample table: Parquet files of tens of MB. */
    static final long LEDGER_BYTES_PER_FILE = 256L << 20;

    /**
     * A per-sample table from the ledger's binary rows, as they are (no conversion back to Java objects), its
     * partitions joined in order into files of about {@link #LEDGER_BYTES_PER_FILE} ledger bytes: a million rows
     * in a few large files, not one small file per ledger partition.
     */
    private static Dataset<Row> ledgerTable(SparkSession spark, RunLedger ledger, JavaSparkContext jsc, String table) {
        return ledgerRows(spark, ledger, jsc, table).coalesce(ledgerFiles(ledger, table));
    }

    /** A ledger table's rows, partition by partition in index order, as a DataFrame of its binary rows. */
    private static Dataset<Row> ledgerRows(SparkSession spark, RunLedger ledger, JavaSparkContext jsc, String table) {
        return ((org.apache.spark.sql.classic.SparkSession) spark).internalCreateDataFrame(
                ledger.rows(jsc, table).rdd(), Tables.ledgerSchema(table), false);
    }

    /** Output files for a ledger table: one per {@link #LEDGER_BYTES_PER_FILE} of its ledger bytes. */
    private static int ledgerFiles(RunLedger ledger, String table) {
        return (int) Math.max(1, Math.min(ledger.info().partitions(),
                (ledger.tableBytes(table) + LEDGER_BYTES_PER_FILE - 1) / LEDGER_BYTES_PER_FILE));
    }

    /** Whether run {@code runId} has an unfinished staging folder under the configured output. */
    static boolean unfinished(JobConfig config, String runId) {
        return RunLedger.exists(config.required("output.path"), runId, hadoopConfiguration());
    }

    /** Hadoop settings before Spark starts: the spark.hadoop.* properties spark-submit passes to the driver. */
    private static Configuration hadoopConfiguration() {
        Configuration conf = new Configuration();
        System.getProperties().stringPropertyNames().stream().filter(k -> k.startsWith("spark.hadoop."))
                .forEach(k -> conf.set(k.substring("spark.hadoop.".length()), System.getProperty(k)));
        return conf;
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

    static String newRunId() {
        return Instant.now().toString().replaceAll("[^0-9]", "").substring(0, 14) + "-"
                + UUID.randomUUID().toString().substring(0, 8);
    }
}
