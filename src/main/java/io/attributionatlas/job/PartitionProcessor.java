package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.spark.api.java.function.FlatMapFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Row;
import org.apache.spark.util.LongAccumulator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One task's work: validates each input row (a bad row becomes an errors-table row with its reason),
 * batches the good ones through the executor's shared explainer, and emits per-sample rows plus the
 * partition's pre-aggregated corpus statistics.
 */
final class PartitionProcessor implements FlatMapFunction<Iterator<Row>, JobRecord> {

    private static final long serialVersionUID = 1L;
    private static final Logger LOG = LoggerFactory.getLogger(PartitionProcessor.class);

    private final JobConfig config;
    private final Broadcast<Map<String, Long>> firstRowOfDuplicateId;
    private final LongAccumulator samplesCounter;
    private final LongAccumulator errorsCounter;
    private final LongAccumulator tokensCounter;
    private final LongAccumulator engineMillis;
    private transient long engineNanos;
    private transient long statisticsNanos;
    private transient long tokens;

    PartitionProcessor(JobConfig config, Broadcast<Map<String, Long>> firstRowOfDuplicateId,
            LongAccumulator samples, LongAccumulator errors, LongAccumulator tokens, LongAccumulator engineMillis) {
        this.config = config;
        this.firstRowOfDuplicateId = firstRowOfDuplicateId;
        this.samplesCounter = samples;
        this.errorsCounter = errors;
        this.tokensCounter = tokens;
        this.engineMillis = engineMillis;
    }

    /** A row that passed validation, waiting for its batch. */
    private record Pending(Row input, Sample sample, List<String> flags) {
    }

    @Override
    public Iterator<JobRecord> call(Iterator<Row> rows) {
        long started = System.nanoTime();
        engineNanos = 0;
        statisticsNanos = 0;
        tokens = 0;
        Explainer explainer = ExecutorModels.explainer(config);
        ModelConfig model = explainer.model().config();
        CorpusStatistics statistics = new CorpusStatistics(model.numLayers(), model.numHeads());
        Set<String> dumpIds = config.optional("dump.ids") == null ? Set.of()
                : Set.of(config.get("dump.ids").split("\\s*,\\s*"));
        int batchSize = Math.max(1, config.integer("batch.samples"));
        List<JobRecord> out = new ArrayList<>();
        List<Pending> valid = new ArrayList<>();
        int processed = 0;
        while (rows.hasNext()) {
            Row row = rows.next();
            Object validated = validate(row, explainer, model);
            if (validated instanceof String reason) {
                out.add(error(row, reason));
            } else {
                valid.add((Pending) validated);
            }
        }
        // Length buckets: neighbours in length share a batch, so padding stays small.
        valid.sort(java.util.Comparator.comparingInt(p -> p.sample().length()));
        List<Pending> pending = new ArrayList<>();
        for (Pending p : valid) {
            pending.add(p);
            if (pending.size() == batchSize) {
                processed += flush(pending, explainer, statistics, dumpIds, out);
            }
        }
        processed += flush(pending, explainer, statistics, dumpIds, out);
        tokensCounter.add(tokens);
        engineMillis.add(engineNanos / 1_000_000);
        out.add(JobRecord.statistics(statistics));
        double seconds = (System.nanoTime() - started) / 1e9;
        LOG.info(String.format(java.util.Locale.ROOT, "partition done: %d samples, %d tokens in %.1f s (%.2f samples/s;"
                + " engine %.1f s, statistics %.1f s)", processed, tokens, seconds, processed / Math.max(seconds, 1e-9),
                engineNanos / 1e9, statisticsNanos / 1e9));
        return out.iterator();
    }

    /** The pending sample, or the reason the row cannot be processed. */
    private Object validate(Row row, Explainer explainer, ModelConfig model) {
        long index = row.getLong(0);
        String id = row.getString(1);
        String text = row.getString(2);
        String pair = row.getString(3);
        String label = row.getString(4);
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
            if (config.truncationIsError()) {
                return "text longer than the model's " + model.maxPositions() + " tokens (truncation = error)";
            }
            flags.add("truncated");
        }
        return new Pending(row, sample, flags);
    }

    private JobRecord error(Row row, String reason) {
        errorsCounter.add(1);
        return JobRecord.row(Tables.ERRORS, Tables.error(row.getLong(0), row.getString(1), reason, row.getString(5),
                config.integer("errors.raw_chars")));
    }

    /** Explains the pending samples (one by one if the batch fails, to isolate a bad row); returns how many. */
    private int flush(List<Pending> pending, Explainer explainer, CorpusStatistics statistics, Set<String> dumpIds,
            List<JobRecord> out) {
        if (pending.isEmpty()) {
            return 0;
        }
        List<SampleAttribution> results;
        try {
            long t0 = System.nanoTime();
            results = explainer.attribute(pending.stream().map(Pending::sample).toList());
            engineNanos += System.nanoTime() - t0;
        } catch (RuntimeException batchFailure) {
            if (pending.size() == 1) {
                out.add(error(pending.get(0).input(), "engine error: " + batchFailure));
                pending.clear();
                return 0;
            }
            int done = 0;
            for (Pending p : new ArrayList<>(pending)) {
                done += flush(new ArrayList<>(List.of(p)), explainer, statistics, dumpIds, out);
            }
            pending.clear();
            return done;
        }
        int done = 0;
        int dumpCount = config.integer("dump.count");
        for (int i = 0; i < results.size(); i++) {
            Pending p = pending.get(i);
            SampleAttribution s = results.get(i);
            String nonFinite = nonFinite(s);
            if (nonFinite != null) {
                out.add(error(p.input(), "non-finite results (" + nonFinite + ")"));
                continue;
            }
            long index = p.input().getLong(0);
            out.add(JobRecord.row(Tables.SAMPLES, Tables.sample(index, p.input().getString(4), s, p.flags())));
            if (index < dumpCount || dumpIds.contains(s.sample().input().id())) {
                out.add(JobRecord.row(Tables.SAMPLE_MATRICES, Tables.matrices(s)));
            }
            long t1 = System.nanoTime();
            statistics.add(s);
            statisticsNanos += System.nanoTime() - t1;
            tokens += s.sample().length();
            samplesCounter.add(1);
            done++;
        }
        pending.clear();
        return done;
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
