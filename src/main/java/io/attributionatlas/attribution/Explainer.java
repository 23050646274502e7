package io.attributionatlas.attribution;

import io.attributionatlas.attribution.AttributionOptions.Strategy;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.attribution.sweep.PathWeights;
import io.attributionatlas.attribution.sweep.SweepPoints;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TextTokenizer;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ObjIntConsumer;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * Explains a batch of samples: the prediction and forward-only analyses from one forward pass at the
 * input, then integrated gradients, conductance of every layer and of every attention tensor,
 * gradient × input and head importance from one sweep along the baseline → input path
 * ({@link Strategy#SINGLE_PASS}), or from one sweep per quantity as Captum needs
 * ({@link Strategy#NAIVE}, the oracle). The uniform entry point is {@link #attribute(List)}.
 */
public final class Explainer implements AutoCloseable {

    private final Predictor predictor;
    private final AttributionOptions options;
    private final TransformerModel model;
    private final ForwardPass forwardPass;
    /** The path's rows per (sample, target); just the two end points when no analysis integrates along it. */
    private final SweepPoints points;
    /** Conductance as one bilinear form over an item's rows. */
    private final PathWeights weights;
    /** Rows per pass from the memory budget, at most {@code internal_batch_size}. */
    private final MemoryBudget budget;
    /** Wall time spent in the per-head reductions and head similarity, per calling thread ({@link #reductionSeconds}). */
    private final ThreadLocal<long[]> reductionNanos = ThreadLocal.withInitial(() -> new long[1]);
    /** Finished samples that share the passes of the methods with passes of their own: at most this many … */
    private static final int OWN_PASS_GROUP = 16;
    /** … or this many tokens. */
    private static final int OWN_PASS_TOKENS = 2048;

    public Explainer(Predictor predictor, AttributionOptions options) {
        this.predictor = predictor;
        this.options = options.validate();
        this.model = predictor.model();
        if (model.config().task() == Task.ENCODER && options.needsGradients()) {
            throw new IllegalArgumentException("a bare encoder has no output to attribute; choose forward-only "
                    + "analyses (attention, norms, rollout) or a classification / QA model");
        }
        for (AttributionMethod m : options.methods()) {
            String refusal = m.refusesModel(model.config());
            if (refusal != null) {
                throw new IllegalArgumentException("method " + m.name() + " cannot explain this "
                        + model.config().family().modelType() + " model: " + refusal);
            }
        }
        if (model.config().task() == Task.QUESTION_ANSWERING && !options.target().kind().equals("predicted")) {
            throw new IllegalArgumentException("question answering explains the predicted start and end positions;"
                    + " target '" + options.target().describe() + "' applies to classification");
        }
        // A row at the model's maximum length must fit the memory budget: say so now, before any work.
        this.points = options.needsPath() ? options.sweepPoints()
                : new SweepPoints(new double[] {0, 1}, new double[] {0, 0}, new boolean[] {false, false}, 0, 0);
        this.weights = PathWeights.of(points, options.conductance());
        int maxLength = model.config().maxLength();
        this.budget = MemoryBudget.of(options.memoryMb(), options.internalBatchSize(), model.manager().getDevice());
        budget.requireFits(model.config(), maxLength, options.needsGradients(),
                sweepItemBytes(maxLength));
        this.forwardPass = new ForwardPass(predictor, this.options, budget, this::addReductionTime);
    }

    /** What an open (sample, target) of {@code length} tokens keeps between sweep chunks. */
    long sweepItemBytes(int length) {
        return MemoryBudget.sweepItemBytes(model.config(), length, weights.band(),
                options.has(Analysis.LAYER_CONDUCTANCE), options.has(Analysis.ATTENTION_CONDUCTANCE));
    }

    /** Rows of one pass at {@code length} tokens: of the sweep, or of the forward pass when no gradients are wanted. */
    public int chunkRows(int length) {
        return options.needsGradients() ? sweepRows(length) : budget.forwardRows(model.config(), length);
    }

    /** Rows of one sweep chunk whose longest item has {@code length} tokens. */
    int sweepRows(int length) {
        return budget.sweepRows(model.config(), length, points.size(), sweepItemBytes(length));
    }

    public AttributionOptions options() {
        return options;
    }

    /**
     * Seconds the calling thread spent so far in the per-head reductions ({@link HeadReductions}) and head similarity
     * (tasks that share an explainer each see their own). On a CPU that is
     * their compute time; on a GPU only the time to queue them (their kernels run asynchronously), so benchmarks
     * there compare runs with and without them instead.
     */
    public double reductionSeconds() {
        return reductionNanos.get()[0] / 1e9;
    }

    private void addReductionTime(long nanos) {
        reductionNanos.get()[0] += nanos;
    }

    /** The memory budget and most rows per pass, as resolved for the model's device. */
    public MemoryBudget budget() {
        return budget;
    }

    public TransformerModel model() {
        return model;
    }

    /**
     * Encodes an input; {@code labelIndex} is needed only for {@code target=label}. The sample holds its texts as the
     * tokenizer read them: a giant text is cut before tokenizing (the encoding is the whole text's), and the sample
     * keeps the cut text, so its cost follows the model's length downstream too.
     */
    public Sample sample(TextInput input, Integer labelIndex) {
        TextTokenizer.Read read = predictor.read(input);
        return new Sample(new TextInput(input.id(), read.text(), read.textPair()), read.encoding(), labelIndex);
    }

    /** Explains every sample; results are in the samples' order and independent of how rows are batched. */
    public List<SampleAttribution> attribute(List<Sample> samples) {
        SampleAttribution[] out = new SampleAttribution[samples.size()];
        attribute(samples, (result, index) -> out[index] = result);
        return List.of(out);
    }

    /**
     * Explains every sample and hands each result to {@code sink}, with its index in {@code samples}, as soon as
     * its last chunk is done (shortest samples first). Forward passes run just ahead of the sweep, so only the
     * samples in flight are held: memory does not grow with the number of samples. Chunks are sized by the
     * memory budget ({@link MemoryBudget}); results do not depend on the chunking.
     */
    public void attribute(List<Sample> samples, ObjIntConsumer<SampleAttribution> sink) {
        TransformerModel.disableGradModeOnThisThread();
        List<Integer> order = IntStream.range(0, samples.size()).boxed()
                .sorted(Comparator.comparingInt(i -> samples.get(i).length())).toList();
        try (SampleStream stream = new SampleStream(samples, order, sink)) {
            run(stream);
            stream.flush();
        }
    }

    private void run(SampleStream stream) {
        if (!options.needsGradients()) {
            while (stream.pull(new ArrayList<>())) {
                // each pulled sample is emitted after its forward pass
            }
            return;
        }
        PathSweep sweep = new PathSweep(model, options, points, weights, predictor.padId(), this::sweepRows,
                ForwardPass.reductionGroupBytes(model, budget), this::addReductionTime);
        boolean embedding = options.has(Analysis.INTEGRATED_GRADIENTS) || options.has(Analysis.GRAD_X_INPUT);
        boolean gate = options.has(Analysis.HEAD_IMPORTANCE);
        Set<Integer> allLayers = IntStream.range(0, model.config().numLayers()).boxed().collect(Collectors.toSet());
        Set<Integer> layers = options.has(Analysis.LAYER_CONDUCTANCE) ? allLayers : Set.of();
        Set<Integer> attentions = options.has(Analysis.ATTENTION_CONDUCTANCE) ? allLayers : Set.of();
        if (options.strategy() == Strategy.SINGLE_PASS) {
            sweep.run(stream, new PathSweep.Taps(embedding, gate, layers, attentions), stream::finished);
            return;
        }
        // Captum's way (the oracle): integrated gradients in one sweep, then one sweep per layer and attention tensor.
        List<PathSweep.Item> items = new ArrayList<>();
        while (stream.pull(items)) {
            // all samples at once
        }
        sweep.run(items, new PathSweep.Taps(embedding, gate, Set.of(), Set.of()));
        for (int l : layers) {
            sweep.run(items, new PathSweep.Taps(false, false, Set.of(l), Set.of()));
        }
        for (int l : attentions) {
            sweep.run(items, new PathSweep.Taps(false, false, Set.of(), Set.of(l)));
        }
        items.forEach(stream::finished);
    }

    /** A sample between its forward pass and its last target's sweep. */
    private static final class InFlight {
        final int index;
        final Sample sample;
        final ForwardPass.Part forward;
        final List<PathSweep.Item> items = new ArrayList<>();
        final TargetAttribution[] results;
        /** The sample's baseline ids: the sweep's, and the perturbation methods'. */
        long[] baseline;
        int remaining;

        InFlight(int index, Sample sample, ForwardPass.Part forward, int targets) {
            this.index = index;
            this.sample = sample;
            this.forward = forward;
            this.results = new TargetAttribution[targets];
            this.remaining = targets;
        }
    }

    /**
     * The samples in length order, forward-passed in groups just before the sweep needs their items; emits a
     * sample when its forward pass (no gradients wanted) or its last item is done.
     */
    private final class SampleStream implements PathSweep.ItemSource, AutoCloseable {
        private final List<Sample> samples;
        private final List<Integer> order;
        private final ObjIntConsumer<SampleAttribution> sink;
        private final Map<PathSweep.Item, InFlight> owners = new IdentityHashMap<>();
        private final List<InFlight> waiting = new ArrayList<>();
        private int waitingTokens;
        private int next;

        SampleStream(List<Sample> samples, List<Integer> order, ObjIntConsumer<SampleAttribution> sink) {
            this.samples = samples;
            this.order = order;
            this.sink = sink;
        }

        @Override
        public boolean pull(List<PathSweep.Item> into) {
            if (next >= order.size()) {
                return false;
            }
            int group = groupSize();
            List<Sample> batch = new ArrayList<>();
            for (int k = 0; k < group; k++) {
                batch.add(samples.get(order.get(next + k)));
            }
            List<ForwardPass.Part> forward = forwardPass.run(batch);
            for (int k = 0; k < group; k++) {
                Sample sample = batch.get(k);
                ForwardPass.Part part = forward.get(k);
                List<ResolvedTarget> targets = options.needsGradients() ? resolveTargets(sample, part.prediction)
                        : List.of();
                InFlight f = new InFlight(order.get(next + k), sample, part, targets.size());
                if (targets.isEmpty()) {
                    emit(f);
                    continue;
                }
                long[] baseline = options.baseline().ids(sample.encoding(), predictor.tokenizer().specialTokens(),
                        model.config().vocabSize());
                f.baseline = baseline;
                for (ResolvedTarget t : targets) {
                    PathSweep.Item item = new PathSweep.Item(sample, t, baseline, model.config().numLayers());
                    f.items.add(item);
                    owners.put(item, f);
                    into.add(item);
                }
            }
            next += group;
            return true;
        }

        /**
         * Samples of the next forward pass: as many as one pass holds at the group's longest length, and with
         * gradients only about as many as the next sweep chunk takes, so that few results wait in memory.
         */
        private int groupSize() {
            int remaining = order.size() - next;
            int group = Math.min(remaining, rowsFor(next));
            while (group > 1) {
                int allowed = rowsFor(next + group - 1);
                if (allowed >= group) {
                    break;
                }
                group = allowed;
            }
            return Math.max(1, group);
        }

        private int rowsFor(int position) {
            int length = samples.get(order.get(position)).length();
            int rows = budget.forwardRows(model.config(), length);
            if (options.needsGradients()) {
                int sweepRows = sweepRows(length);
                rows = Math.min(rows, Math.max(1, (sweepRows + points.size() - 1) / points.size()));
            }
            return rows;
        }

        /** Called by the sweep when an item's last point is done. */
        void finished(PathSweep.Item item) {
            InFlight f = owners.remove(item);
            f.results[f.items.indexOf(item)] = finish(item);
            item.close();
            if (--f.remaining == 0) {
                emit(f);
            }
        }

        /** Frees the device state of items still open (after a failure). */
        @Override
        public void close() {
            owners.keySet().forEach(PathSweep.Item::close);
            owners.clear();
        }

        /**
         * Hands a finished sample to the sink; with methods that need passes of their own, finished samples wait
         * until 16 of them (or 2,048 tokens) can share those passes.
         */
        private void emit(InFlight f) {
            if (!ownPasses()) {
                sinkNow(f);
                return;
            }
            waiting.add(f);
            waitingTokens += f.sample.length();
            if (waiting.size() >= OWN_PASS_GROUP || waitingTokens >= OWN_PASS_TOKENS) {
                flush();
            }
        }

        /** Completes and hands over the samples still waiting. */
        void flush() {
            if (waiting.isEmpty()) {
                return;
            }
            addOwnPassMethods(waiting);
            waiting.forEach(this::sinkNow);
            waiting.clear();
            waitingTokens = 0;
        }

        private void sinkNow(InFlight f) {
            ForwardPass.Part p = f.forward;
            boolean conductance = options.has(Analysis.LAYER_CONDUCTANCE) || options.has(Analysis.ATTENTION_CONDUCTANCE);
            sink.accept(new SampleAttribution(f.sample, p.prediction, p.attentions, p.normFx, p.normAlphaFx,
                    p.normSumAlphaFx, p.rollout, p.headSimilarity, p.headMetrics, List.of(f.results),
                    options.has(Analysis.INTEGRATED_GRADIENTS) ? points.pointsIg() : 0,
                    conductance ? points.pointsConductance() : 0, p.queryKeys, p.embeddings), f.index);
        }
    }

    /** Whether a requested method (or faithfulness) needs passes of its own after the sweep. */
    private boolean ownPasses() {
        return options.faithfulness() || options.methods().stream()
                .anyMatch(m -> m.passes() != AttributionMethod.Passes.SWEEP);
    }

    /** A plan in the batch, and where its result goes. */
    private record Planned<T>(TargetAttribution target, String name, PerturbationPlan<T> plan,
            PerturbationBatch.Request copies, PerturbationBatch.Request original) {

        T result() {
            return plan.finish().apply(original == null ? Double.NaN : original.outputs[0], copies.outputs);
        }
    }

    /**
     * The requested methods that need passes of their own, for every target of a group of finished samples: the
     * perturbation methods' copies of all of them in one {@link PerturbationBatch} (length-sorted, padded passes
     * across samples), GradientSHAP and attention attribution per sample; then faithfulness, again batched.
     * Results go into each target's methods in the requested order.
     */
    private void addOwnPassMethods(List<InFlight> group) {
        PerturbationBatch batch = new PerturbationBatch(predictor, options,
                length -> budget.forwardRows(model.config(), length));
        Map<TargetAttribution, PerturbationBatch.Request[]> originals = new IdentityHashMap<>();
        List<Planned<MethodScores>> planned = new ArrayList<>();
        Map<TargetAttribution, Map<String, MethodScores>> computed = new IdentityHashMap<>();
        // forward methods: the group's samples decomposed together, one decomposition per sample for all its targets
        Map<String, List<AttributionMethod.Decomposition>> decompositions = new java.util.HashMap<>();
        List<EncodedText> texts = group.stream().map(f -> f.sample.encoding()).toList();
        for (AttributionMethod m : options.methods()) {
            if (m.passes() == AttributionMethod.Passes.FORWARD) {
                decompositions.put(m.name(), m.decompose(model, texts, new AttributionMethod.MethodContext(options,
                        options.seed())));
            }
        }
        for (int g = 0; g < group.size(); g++) {
            InFlight f = group.get(g);
            EncodedText text = f.sample.encoding();
            long[] baseline = f.baseline;
            long seed = PerturbationBatch.seed(options, text);
            for (TargetAttribution t : f.results) {
                Map<String, MethodScores> scores = computed.computeIfAbsent(t, k -> new java.util.HashMap<>());
                AttributionMethod.MethodContext context = new AttributionMethod.MethodContext(options, seed);
                for (AttributionMethod m : options.methods()) {
                    switch (m.passes()) {
                        case PERTURBATION -> {
                            PerturbationPlan<MethodScores> plan = m.plan(text, context);
                            planned.add(new Planned<>(t, m.name(), plan, batch.add(text, baseline, t, plan.masks(),
                                    false), plan.usesOriginal() ? original(batch, originals, text, baseline, t, false)
                                            : null));
                        }
                        case GRADIENT -> scores.put(m.name(), m.attribute(new PathGradients(model, options, text, t,
                                predictor.padId(), sweepRows(text.length())), baseline, context));
                        case FORWARD -> {
                            MethodScores s = decompositions.get(m.name()).get(g).forTarget(t.name(), t.index());
                            // the per-layer matrices only for the samples that keep their matrices (dumped ones)
                            scores.put(m.name(), f.sample.matrices() ? s : s.withoutLayerMatrices());
                        }
                        case SWEEP -> { } // added when the sweep finished the target
                    }
                }
            }
        }
        batch.run();
        planned.forEach(p -> computed.get(p.target()).put(p.name(), p.result()));
        for (InFlight f : group) {
            for (TargetAttribution t : f.results) {
                for (AttributionMethod m : options.methods()) {
                    MethodScores s = computed.get(t).get(m.name());
                    if (s != null) {
                        t.methods().put(m.name(), s);
                    }
                }
            }
        }
        if (!options.faithfulness()) {
            return;
        }
        List<Planned<double[]>> rankings = new ArrayList<>();
        for (InFlight f : group) {
            EncodedText text = f.sample.encoding();
            long[] baseline = f.baseline;
            for (TargetAttribution t : f.results) {
                Map<String, float[]> byName = new java.util.LinkedHashMap<>();
                t.methods().values().forEach(m -> byName.put(m.name(), m.tokenAttributions()));
                if (byName.isEmpty()) {
                    continue;
                }
                byName.put(Faithfulness.RANDOM, Faithfulness.randomScores(text.length(),
                        PerturbationBatch.seed(options, text)));
                byName.forEach((name, scores) -> {
                    PerturbationPlan<double[]> plan = Faithfulness.plan(text, scores);
                    rankings.add(new Planned<>(t, name, plan, batch.add(text, baseline, t, plan.masks(), true),
                            original(batch, originals, text, baseline, t, true)));
                });
            }
        }
        batch.run();
        rankings.forEach(p -> p.target().faithfulness().put(p.name(), p.result()));
    }

    /** F at the input for a target, once per batch (index 0: the output option; 1: the probability). */
    private static PerturbationBatch.Request original(PerturbationBatch batch,
            Map<TargetAttribution, PerturbationBatch.Request[]> originals, EncodedText text, long[] baseline,
            TargetAttribution t, boolean probability) {
        PerturbationBatch.Request[] pair = originals.computeIfAbsent(t, k -> new PerturbationBatch.Request[2]);
        int k = probability ? 1 : 0;
        if (pair[k] == null) {
            pair[k] = batch.add(text, baseline, t, PerturbationBatch.unchanged(text), probability);
        }
        return pair[k];
    }

    private List<ResolvedTarget> resolveTargets(Sample sample, Prediction prediction) {
        ModelConfig config = model.config();
        if (config.task() == Task.QUESTION_ANSWERING) {
            int start;
            int end;
            if (options.qaReduction() != QaReduction.INDEX || prediction.answer().start() < 0) {
                start = Predictor.argmax(prediction.startLogits());
                end = Predictor.argmax(prediction.endLogits());
            } else {
                start = prediction.answer().start();
                end = prediction.answer().end();
            }
            String[] tokens = sample.encoding().tokens();
            return List.of(new ResolvedTarget("start", start, tokens[start]),
                    new ResolvedTarget("end", end, tokens[end]));
        }
        List<String> labels = config.labels();
        TargetSpec t = options.target();
        List<Integer> classes = switch (t.kind()) {
            case "predicted" -> List.of(prediction.labelIndex());
            case "all" -> IntStream.range(0, labels.size()).boxed().toList();
            case "label" -> {
                if (sample.labelIndex() == null) {
                    throw new IllegalArgumentException("target=label needs a label for sample "
                            + sample.input().id());
                }
                yield List.of(checkClass(sample.labelIndex(), labels));
            }
            default -> List.of(classIndex(t.value(), labels));
        };
        return classes.stream().map(c -> new ResolvedTarget("class", c, labels.get(c))).toList();
    }

    /** A class given by index or by label name. */
    public static int classIndex(String value, List<String> labels) {
        int byName = labels.indexOf(value);
        if (byName >= 0) {
            return byName;
        }
        try {
            return checkClass(Integer.parseInt(value.trim()), labels);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("unknown class '" + value + "' (labels: " + labels + ")");
        }
    }

    private static int checkClass(int index, List<String> labels) {
        if (index < 0 || index >= labels.size()) {
            throw new IllegalArgumentException("class index " + index + " is not among the model's " + labels.size()
                    + " labels " + labels);
        }
        return index;
    }

    private TargetAttribution finish(PathSweep.Item item) {
        int n = item.length;
        int layers = model.config().numLayers();
        float[] igSum = item.igTokenSum;
        float[] igNorm = null;
        double delta = Double.NaN;
        if (igSum != null) {
            double total = 0;
            double squares = 0;
            for (float v : igSum) {
                total += v;
                squares += (double) v * v;
            }
            double norm = Math.sqrt(squares);
            igNorm = new float[n];
            for (int i = 0; i < n; i++) {
                igNorm[i] = norm == 0 ? 0f : (float) (igSum[i] / norm);
            }
            delta = total - (item.fInput - item.fBaseline);
        }
        float[][] layerToken = null;
        double[] layerTotal = null;
        if (item.layerToken[0] != null) {
            layerToken = item.layerToken;
            layerTotal = new double[layers];
            for (int l = 0; l < layers; l++) {
                for (float v : layerToken[l]) {
                    layerTotal[l] += v;
                }
            }
        }
        float[][][][] attention = item.attention[0] != null ? item.attention : null;
        HeadConductance heads = item.attentionStatistics[0] != null ? headConductance(item) : null;
        java.util.Map<String, MethodScores> methods = new java.util.LinkedHashMap<>();
        int[] words = item.sample.encoding().words();
        AttributionMethod.SweepScores sweep = new AttributionMethod.SweepScores(igSum, points.pointsIg(),
                item.gradXInput, item.saliency, words);
        for (AttributionMethod m : options.methods()) {
            if (m.passes() == AttributionMethod.Passes.SWEEP) {
                methods.put(m.name(), m.fromSweep(sweep));
            } // the others: added when the sample is complete
        }
        return new TargetAttribution(item.target.name(), item.target.index(), item.target.label(), item.fInput,
                item.fBaseline, igSum, igNorm, delta, layerToken, layerTotal, attention, heads, item.gradXInput,
                item.headImportance, methods, new java.util.LinkedHashMap<>());
    }

    /** An item's per-head statistics of its attention conductance, as the sweep reduced them. */
    private static HeadConductance headConductance(PathSweep.Item item) {
        int layers = item.attentionStatistics.length;
        int heads = item.attentionStatistics[0].length;
        List<String> categories = HeadReductions.CATEGORIES;
        Map<String, float[][]> byName = new java.util.LinkedHashMap<>();
        float[][][] moments = new float[layers][heads][];
        for (int c = 0; c < categories.size(); c++) {
            byName.put("cond_" + categories.get(c), HeadReductions.column(item.attentionStatistics, c));
        }
        for (int c = 0; c < categories.size(); c++) {
            byName.put("cond_abs_" + categories.get(c),
                    HeadReductions.column(item.attentionStatistics, categories.size() + c));
        }
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                moments[l][h] = java.util.Arrays.copyOfRange(item.attentionStatistics[l][h], 2 * categories.size(),
                        PathSweep.ATTENTION_STATISTICS);
            }
        }
        return new HeadConductance(byName, moments, item.relationPairs, item.relationValues);
    }

    @Override
    public void close() {
        forwardPass.close();
    }

}
