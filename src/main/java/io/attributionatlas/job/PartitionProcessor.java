package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
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
    private final RunLedger ledger;
    private final String modelFingerprint;

    PartitionProcessor(JobConfig config, Broadcast<Map<String, Long>> firstRowOfDuplicateId, RunLedger ledger,
            String modelFingerprint) {
        this.config = config;
        this.firstRowOfDuplicateId = firstRowOfDuplicateId;
        this.ledger = ledger;
        this.modelFingerprint = modelFingerprint;
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
        PartitionRun run = new PartitionRun(rows);
        try (RunLedger.PartitionWriter out = ledger.open(partition, task != null ? task.taskAttemptId() : 0)) {
            CorpusStatistics statistics = null;
            while (run.hasNext()) {
                JobRecord r = run.next();
                if (r.statistics() != null) {
                    statistics = r.statistics();
                } else {
                    out.add(r.table(), r.row());
                }
            }
            RunLedger.PartitionSummary summary = new RunLedger.PartitionSummary(partition,
                    task != null ? task.attemptNumber() : 0,
                    SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId(), host(),
                    run.explainer.model().manager().getDevice().toString(), ExecutorModels.loadedCount(),
                    out.count(Tables.SAMPLES), out.count(Tables.ERRORS), out.count(Tables.SAMPLE_MATRICES), run.tokens,
                    run.engineNanos / 1_000_000, (System.nanoTime() - run.started) / 1e9);
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
     * A task's records, produced lazily as Spark consumes them: a window of rows is read and validated (bad rows
     * become error records at once), sorted by length and explained an engine batch at a time; each sample's
     * rows are emitted and its statistics merged as soon as the engine hands it over, and its matrices are
     * dropped unless it is dumped. Memory is one window of encodings plus the samples in flight, whatever the
     * partition's size; the partition's statistics come last.
     */
    private final class PartitionRun implements Iterator<JobRecord> {
        private final Iterator<Row> rows;
        private final Explainer explainer = ExecutorModels.explainer(config, modelFingerprint,
                ledger.hadoop());
        private final ModelConfig model = explainer.model().config();
        private final CorpusStatistics statistics = new CorpusStatistics(model.numLayers(), model.numHeads());
        private final Set<String> dumpIds = config.optional("dump.ids") == null ? Set.of()
                : Set.of(config.get("dump.ids").split("\\s*,\\s*"));
        private final int dumpCount = config.integer("dump.count");
        private final int rawChars = config.integer("errors.raw_chars");
        private final boolean truncationIsError = config.truncationIsError();
        private final int batchSize = config.samplesPerBatch(explainer.model().manager().getDevice().isGpu());
        private final ArrayDeque<JobRecord> ready = new ArrayDeque<>();
        private final ArrayDeque<Pending> window = new ArrayDeque<>();
        private final long started = System.nanoTime();
        private boolean done;
        private long engineNanos;
        private long statisticsNanos;
        private long tokens;
        private int processed;

        PartitionRun(Iterator<Row> rows) {
            this.rows = rows;
        }

        @Override
        public boolean hasNext() {
            fill();
            return !ready.isEmpty();
        }

        @Override
        public JobRecord next() {
            fill();
            if (ready.isEmpty()) {
                throw new NoSuchElementException();
            }
            return ready.poll();
        }

        private void fill() {
            while (ready.isEmpty() && !done) {
                if (!window.isEmpty()) {
                    List<Pending> batch = new ArrayList<>();
                    while (!window.isEmpty() && batch.size() < batchSize) {
                        batch.add(window.poll());
                    }
                    processed += explain(batch);
                } else if (rows.hasNext()) {
                    readWindow();
                } else {
                    finish();
                }
            }
        }

        private void readWindow() {
            List<Pending> valid = new ArrayList<>();
            while (rows.hasNext() && valid.size() < batchSize * LENGTH_BUCKET_BATCHES) {
                Row row = rows.next();
                Object validated = validate(row, explainer, model, truncationIsError);
                if (validated instanceof String reason) {
                    ready.add(error(row, reason));
                } else if (dumped((Pending) validated)) {
                    valid.add((Pending) validated);
                } else { // its [L][H][S][S] matrices stay on the device: the engine reduces them to statistics there
                    Pending p = (Pending) validated;
                    valid.add(new Pending(p.input(), p.sample().withoutMatrices(), p.flags()));
                }
            }
            valid.sort(java.util.Comparator.comparingInt(p -> p.sample().length()));
            window.addAll(valid);
        }

        private void finish() {
            done = true;
            ready.add(JobRecord.statistics(statistics.compact()));
            double seconds = (System.nanoTime() - started) / 1e9;
            LOG.info(String.format(java.util.Locale.ROOT, "partition done: %d samples, %d tokens in %.1f s (%.2f "
                    + "samples/s; engine %.1f s, statistics %.1f s)", processed, tokens, seconds,
                    processed / Math.max(seconds, 1e-9), engineNanos / 1e9, statisticsNanos / 1e9));
        }

        /**
         * Explains a batch, emitting each sample as the engine finishes it; when the engine fails, the samples it
         * had not finished are retried one by one, so a bad row becomes an error row alone. Returns the samples.
         */
        private int explain(List<Pending> batch) {
            boolean[] emitted = new boolean[batch.size()];
            int[] done = {0};
            long before = statisticsNanos;
            long t0 = System.nanoTime();
            try {
                explainer.attribute(batch.stream().map(Pending::sample).toList(), (result, i) -> {
                    emitted[i] = true;
                    done[0] += emit(batch.get(i), result);
                });
                return done[0];
            } catch (RuntimeException failure) {
                if (batch.size() == 1) {
                    ready.add(error(batch.get(0).input(), "engine error: " + failure));
                    return 0;
                }
                for (int i = 0; i < batch.size(); i++) {
                    if (!emitted[i]) {
                        done[0] += explain(List.of(batch.get(i)));
                    }
                }
                return done[0];
            } finally {
                engineNanos += System.nanoTime() - t0 - (statisticsNanos - before); // emit's time is not the engine's
            }
        }

        /** The sample's rows (or an error row for non-finite results) and its statistics; 1 if it is a sample. */
        private int emit(Pending p, SampleAttribution s) {
            long t0 = System.nanoTime();
            try {
                String nonFinite = nonFinite(s);
                if (nonFinite != null) {
                    ready.add(error(p.input(), "non-finite results (" + nonFinite + ")"));
                    return 0;
                }
                long index = p.input().getLong(0);
                ready.add(JobRecord.row(Tables.SAMPLES, Tables.sample(index, p.input().getString(4), s, p.flags())));
                if (dumped(p)) {
                    ready.add(JobRecord.row(Tables.SAMPLE_MATRICES, Tables.matrices(s)));
                }
                statistics.add(s);
                tokens += s.sample().length();
                return 1;
            } finally {
                statisticsNanos += System.nanoTime() - t0;
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
    }

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
