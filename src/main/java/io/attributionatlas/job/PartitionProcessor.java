package io.attributionatlas.job;

import io.attributionatlas.analysis.SlicedStatistics;
import io.attributionatlas.analysis.Slices;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.SparkEnv;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.Function2;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task's work on one partition: validates each input row (a bad row becomes an errors-table row with its
 * reason), batches the good ones through the executor's shared explainer, and writes the per-sample rows and
 * the partition's pre-aggregated corpus statistics into the run's ledger, returning the partition's summary.
 * A partition the ledger already has (a resumed run) is skipped.
 */
final class PartitionProcessor implements Function2<Integer, Iterator<Row>, Iterator<RunLedger.PartitionSummary>> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(PartitionProcessor.class);

    /** Rows read ahead and sorted by length, in engine batches: padding stays small, memory bounded. */
    private static final int LENGTH_BUCKET_BATCHES = 8;

    private final JobConfig config;
    private final Broadcast<Map<String, Long>> firstRowOfDuplicateId;
    private final Slices slices;
    private final RunLedger ledger;
    private final String modelFingerprint;
    private final Progress.Counters progress;

    PartitionProcessor(JobConfig config, Broadcast<Map<String, Long>> firstRowOfDuplicateId, Slices slices,
            RunLedger ledger, String modelFingerprint, Progress.Counters progress) {
        this.config = config;
        this.firstRowOfDuplicateId = firstRowOfDuplicateId;
        this.slices = slices;
        this.ledger = ledger;
        this.modelFingerprint = modelFingerprint;
        this.progress = progress;
    }

    /** A row that passed validation, waiting for its batch. */
    private record Pending(Row input, Sample sample, List<String> flags) {
    }

    @Override
    public Iterator<RunLedger.PartitionSummary> call(Integer partition, Iterator<Row> rows) {
        if (ledger.finished(partition)) {
            return java.util.Collections.emptyIterator();
        }
        TaskContext task = TaskContext.get();
        try (RunLedger.PartitionWriter out = ledger.open(partition, task != null ? task.taskAttemptId() : 0)) {
            PartitionRun run = new PartitionRun(rows, out);
            SlicedStatistics statistics = run.run();
            // token_importance's keys go to the ledger as rows, for Spark to aggregate: never merged on the driver
            statistics.bySlice().forEach((slice, stats) -> {
                stats.tokenImportance().forEach((key, sums) -> out.add(Tables.TOKEN_IMPORTANCE_PARTS,
                        Tables.tokenImportancePart(partition, slice, key, sums)));
                stats.tokenImportance().clear();
            });
            RunLedger.PartitionSummary summary = new RunLedger.PartitionSummary(partition,
                    task != null ? task.attemptNumber() : 0,
                    SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId(), host(),
                    run.explainer.model().manager().getDevice().toString(), ExecutorModels.loadedCount(),
                    out.count(Tables.SAMPLES), out.count(Tables.ERRORS), out.count(Tables.SAMPLE_MATRICES),
                    run.sink.tokens, run.engineNanos / 1_000_000, run.statisticsMillis(), run.sink.writingNanos / 1_000_000,
                    (System.nanoTime() - run.started) / 1e9);
            out.commit(statistics, summary);
            return List.of(summary).iterator();
        }
    }

    /** The executor's host as Spark knows it (the scheduler's view of placement), else the machine's name. */
    private static String host() {
        if (SparkEnv.get() != null && SparkEnv.get().blockManager() != null) {
            return SparkEnv.get().blockManager().blockManagerId().host();
        }
        try {
            return java.net.InetAddress.getLocalHost().getHostName();
        } catch (java.net.UnknownHostException e) {
            return "unknown";
        }
    }

    /**
     * A task's work: the task's thread reads a window of rows and validates them (a bad row becomes an error row),
     * sorts them by length and runs the engine an engine batch at a time; each finished sample goes through a
     * bounded hand-off to the partition's {@link Sink} thread, which builds and writes its rows and merges its
     * statistics, so the engine never waits for them while the hand-off has room. Memory is one window of encodings,
     * the samples in flight and the hand-off, whatever the partition's size.
     */
    private final class PartitionRun {
        private final Iterator<Row> rows;
        private final ExecutorModels.Loaded executor = ExecutorModels.loaded(config, modelFingerprint,
                ledger.hadoop());
        private final Explainer explainer = executor.explainer();
        private final BatchEngine engine = executor.engine();
        private final ModelConfig model = explainer.model().config();
        private final Set<String> dumpIds = config.optional("dump.ids") == null ? Set.of()
                : Set.of(config.get("dump.ids").split("\\s*,\\s*"));
        private final int dumpCount = config.integer("dump.count");
        private final TokenSampling tokenSampling = new TokenSampling(config.embeddingSeed(),
                config.embeddingSampleRate(), config.embeddingLayers().length > 0);
        private final int rawChars = config.integer("errors.raw_chars");
        private final boolean truncationIsError = config.truncationIsError();
        private final int batchSize = config.samplesPerBatch(explainer.model().manager().getDevice().isGpu());
        private final Sink sink;
        private final long started = System.nanoTime();
        private long engineNanos;
        private double reductionSeconds;

        PartitionRun(Iterator<Row> rows, RunLedger.PartitionWriter out) {
            this.rows = rows;
            this.sink = new Sink(out, new SlicedStatistics(model.numLayers(), model.numHeads()),
                    Math.max(HANDOFF_MIN, 2 * batchSize));
        }

        /** Runs the partition; its merged statistics once every row is written. */
        SlicedStatistics run() {
            Thread thread = new Thread(sink, "atlas-sink-" + Thread.currentThread().getName());
            thread.setDaemon(true);
            thread.start();
            try {
                while (rows.hasNext()) {
                    List<Pending> window = readWindow();
                    for (int from = 0; from < window.size(); from += batchSize) {
                        explain(window.subList(from, Math.min(window.size(), from + batchSize)));
                    }
                }
                sink.put(Sink.END);
                join(thread);
            } catch (RuntimeException | Error e) {
                thread.interrupt();
                throw e;
            }
            sink.rethrow();
            double seconds = (System.nanoTime() - started) / 1e9;
            String done = String.format(java.util.Locale.ROOT, "partition done: %d samples, %d tokens in %.1f s (%.2f "
                    + "samples/s; engine %.1f s, statistics %.1f s, writing %.1f s, engine waited %.1f s for the "
                    + "sink)", sink.samples, sink.tokens, seconds, sink.samples / Math.max(seconds, 1e-9),
                    engineNanos / 1e9, statisticsMillis() / 1e3, sink.writingNanos / 1e9, sink.waitNanos.sum() / 1e9);
            if (Progress.interactiveConsole()) {
                LOG.debug(done); // on a terminal the driver's status line shows it; a log line would break into it
            } else {
                LOG.info(done);
            }
            return sink.statistics.compact();
        }

        /** The per-head reductions inside the engine (this thread's) and the sink's merging. */
        long statisticsMillis() {
            return Math.round(reductionSeconds * 1e3) + sink.statisticsNanos / 1_000_000;
        }

        private List<Pending> readWindow() {
            List<Pending> valid = new ArrayList<>();
            while (rows.hasNext() && valid.size() < batchSize * LENGTH_BUCKET_BATCHES) {
                Row row = rows.next();
                Object validated = validate(row, explainer, model, truncationIsError);
                if (validated instanceof String reason) {
                    sink.put(error(row, reason));
                } else {
                    Pending p = (Pending) validated;
                    boolean dumped = dumped(p);
                    // a dumped sample keeps every token's embedding, for its neighbours in the report
                    Sample sample = p.sample().withEmbeddingPositions(tokenSampling.positions(p.sample(), dumped));
                    // the others' [L][H][S][S] matrices stay on the device: the engine reduces them to statistics there
                    valid.add(new Pending(p.input(), dumped ? sample : sample.withoutMatrices(), p.flags()));
                }
            }
            valid.sort(java.util.Comparator.comparingInt(p -> p.sample().length()));
            return valid;
        }

        /**
         * Explains a batch, handing each sample to the sink as the engine finishes it; when the engine fails, the
         * samples it had not finished are retried one by one, so a bad row becomes an error row alone.
         */
        private void explain(List<Pending> batch) {
            boolean[] emitted = new boolean[batch.size()];
            try {
                BatchEngine.Charge charge = engine.attribute(batch.stream().map(Pending::sample).toList(),
                        (result, i) -> {
                            emitted[i] = true;
                            sink.put(new Finished(batch.get(i), result));
                        });
                engineNanos += Math.round(charge.engineSeconds() * 1e9);
                progress.engineMillis().add(Math.round(charge.engineSeconds() * 1e3));
                reductionSeconds += charge.reductionSeconds();
            } catch (RuntimeException failure) {
                sink.rethrow(); // the writer's failure is the task's, not the batch's
                if (batch.size() == 1) {
                    sink.put(error(batch.get(0).input(), "engine error: " + failure));
                    return;
                }
                for (int i = 0; i < batch.size(); i++) {
                    if (!emitted[i]) {
                        explain(List.of(batch.get(i)));
                    }
                }
            }
        }

        /** Whether a sample's matrices go into sample_matrices: the first dump.count rows, and dump.ids. */
        private boolean dumped(Pending p) {
            return p.input().getLong(0) < dumpCount || dumpIds.contains(p.sample().input().id());
        }

        private JobRecord error(Row row, String reason) {
            return JobRecord.row(Tables.ERRORS, Tables.error(row.getLong(0), row.getString(1), reason,
                    row.getString(5), rawChars));
        }

        private void join(Thread thread) {
            try {
                thread.join();
            } catch (InterruptedException e) {
                thread.interrupt();
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while the partition's rows were written", e);
            }
        }

        /**
         * The partition's writer thread: takes finished samples and error rows from a bounded queue, writes their
         * rows to the ledger and merges each sample's statistics. The only thread that touches the ledger's writer
         * and the statistics; a failure here fails the task.
         */
        private final class Sink implements Runnable {
            static final Object END = new Object();
            private final java.util.concurrent.BlockingQueue<Object> queue;
            private final RunLedger.PartitionWriter out;
            final SlicedStatistics statistics;
            private volatile Throwable failure;
            // written by the sink's thread, read after it is joined
            long statisticsNanos;
            long writingNanos;
            long tokens;
            long samples;
            /** How long the engine (or the task's thread, for error rows) waited for room in the hand-off. */
            final java.util.concurrent.atomic.LongAdder waitNanos = new java.util.concurrent.atomic.LongAdder();

            Sink(RunLedger.PartitionWriter out, SlicedStatistics statistics, int capacity) {
                this.out = out;
                this.statistics = statistics;
                this.queue = new java.util.concurrent.ArrayBlockingQueue<>(capacity);
            }

            /** Hands over a record or finished sample; waits while the queue is full, fails if the sink failed. */
            void put(Object item) {
                long t0 = System.nanoTime();
                try {
                    while (!queue.offer(item, 100, java.util.concurrent.TimeUnit.MILLISECONDS)) {
                        rethrow();
                    }
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IllegalStateException("interrupted while handing a sample to the partition's writer", e);
                } finally {
                    waitNanos.add(System.nanoTime() - t0);
                }
                rethrow();
            }

            void rethrow() {
                Throwable f = failure;
                if (f instanceof RuntimeException r) {
                    throw r;
                }
                if (f instanceof Error e) {
                    throw e;
                }
                if (f != null) {
                    throw new IllegalStateException(f);
                }
            }

            @Override
            public void run() {
                try {
                    while (true) {
                        Object item = queue.take();
                        if (item == END) {
                            return;
                        }
                        if (item instanceof Finished f) {
                            emit(f.pending(), f.result());
                        } else {
                            write((JobRecord) item);
                        }
                        progress.rows().add(1);
                    }
                } catch (InterruptedException e) {
                    failure = new IllegalStateException("the partition's writer was interrupted", e);
                } catch (RuntimeException | Error e) {
                    failure = e;
                }
            }

            private void write(JobRecord r) {
                long t0 = System.nanoTime();
                out.add(r.table(), r.row());
                writingNanos += System.nanoTime() - t0;
            }

            /** The sample's rows (or an error row for non-finite results) and its statistics. */
            private void emit(Pending p, SampleAttribution s) {
                String nonFinite = nonFinite(s);
                if (nonFinite != null) {
                    write(error(p.input(), "non-finite results (" + nonFinite + ")"));
                    return;
                }
                long t0 = System.nanoTime();
                long index = p.input().getLong(0);
                out.add(Tables.SAMPLES, Tables.sample(index, p.input().getString(4), s, p.flags()));
                if (p.sample().matrices()) { // only dumped samples kept their matrices (readWindow)
                    out.add(Tables.SAMPLE_MATRICES, Tables.matrices(s));
                }
                for (Row embedding : Tables.tokenEmbeddings(s)) {
                    out.add(Tables.TOKEN_EMBEDDINGS, embedding);
                }
                long t1 = System.nanoTime();
                statistics.add(s, slices.of(s.prediction(), s.sample().length(), p.input().getString(4),
                        column -> inputColumn(p.input(), column)));
                statisticsNanos += System.nanoTime() - t1;
                writingNanos += t1 - t0;
                tokens += s.sample().length();
                samples++;
            }
        }
    }

    /** An input column's value as text, from the row's raw JSON (null when missing or null). */
    private static String inputColumn(Row input, String column) {
        String raw = input.getString(5);
        if (raw == null) {
            return null;
        }
        com.google.gson.JsonElement v = com.google.gson.JsonParser.parseString(raw).getAsJsonObject().get(column);
        return v == null || v.isJsonNull() ? null : v.isJsonPrimitive() ? v.getAsString() : v.toString();
    }

    /** A sample the engine finished, on its way to the sink. */
    private record Finished(Pending pending, SampleAttribution result) {
    }

    /** Entries the hand-off holds at least: finished samples without matrices are small. */
    private static final int HANDOFF_MIN = 64;

    /** The pending sample, or the reason the row cannot be processed. */
    private Object validate(Row row, Explainer explainer, ModelConfig model, boolean truncationIsError) {
        long index = row.getLong(0);
        String id = row.getString(1);
        String text = row.getString(2);
        String pair = row.getString(3);
        String label = row.getString(4);
        String malformed = row.getString(6);
        if (malformed != null) {
            return malformed;
        }
        if (text == null) {
            return "text is null";
        }
        if (text.isBlank()) {
            return text.isEmpty() ? "text is empty" : "text is whitespace only";
        }
        Long first = firstRowOfDuplicateId.value().get(id);
        if (first != null && first != index) {
            return "duplicate id '" + id + "' (first used by input row " + first + ")";
        }
        boolean pairModel = model.task() == Task.QUESTION_ANSWERING || config.optional("input.text_pair_column") != null;
        if (pairModel && (pair == null || pair.isBlank())) {
            return "missing text pair (" + (model.task() == Task.QUESTION_ANSWERING ? "a question-answering model needs"
                    + " a context" : "input.text_pair_column is set") + ")";
        }
        Integer labelIndex = null;
        if (label != null && model.task() == Task.SEQUENCE_CLASSIFICATION) {
            try {
                labelIndex = Explainer.classIndex(label, model.labels());
            } catch (IllegalArgumentException e) {
                return "label '" + label + "' is not among the model's labels " + model.labels();
            }
        }
        if (labelIndex == null && explainer.options().target().kind().equals("label")
                && explainer.options().needsGradients()) {
            return "target=label but the row has no label";
        }
        Sample sample = explainer.sample(new TextInput(id, text, pair), labelIndex);
        if (row.getBoolean(7) && !sample.encoding().truncated()) {
            // cut by the reader and still within the model's length: what followed the cut is lost all the same
            EncodedText e = sample.encoding();
            sample = new Sample(sample.input(), new EncodedText(e.ids(), e.typeIds(), e.tokens(), e.special(),
                    e.sequence(), e.words(), true), labelIndex);
        }
        List<String> flags = new ArrayList<>();
        if (sample.encoding().truncated()) {
            if (truncationIsError) {
                return "text longer than the model's " + model.maxLength() + " tokens (truncation = error)";
            }
            flags.add("truncated");
        }
        return new Pending(row, sample, flags);
    }

    /** Which result is NaN or infinite, or null when all are finite. */
    static String nonFinite(SampleAttribution s) {
        if (s.prediction().logits() != null && !finite(s.prediction().logits())) {
            return "logits";
        }
        for (TargetAttribution t : s.targets()) {
            if (!Double.isFinite(t.fInput()) || !Double.isFinite(t.fBaseline())) {
                return "target " + t.name() + " output";
            }
            if (t.igTokenSum() != null && !finite(t.igTokenSum())) {
                return "integrated gradients";
            }
            if (t.layerTotal() != null) {
                for (double v : t.layerTotal()) {
                    if (!Double.isFinite(v)) {
                        return "layer conductance";
                    }
                }
            }
            if (t.gradXInput() != null && !finite(t.gradXInput())) {
                return "gradient x input";
            }
        }
        return null;
    }

    private static boolean finite(float[] v) {
        for (float x : v) {
            if (!Float.isFinite(x)) {
                return false;
            }
        }
        return true;
    }
}
