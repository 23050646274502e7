package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.attributionatlas.attribution.AttributionOptions.Strategy;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
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
    private final ForwardAnalyses forwardAnalyses;

    public Explainer(Predictor predictor, AttributionOptions options) {
        this.predictor = predictor;
        this.options = options;
        this.model = predictor.model();
        if (model.config().task() == Task.ENCODER && options.needsGradients()) {
            throw new IllegalArgumentException("a bare encoder has no output to attribute; choose forward-only "
                    + "analyses (attention, norms, rollout) or a classification / QA model");
        }
        if (model.config().task() == Task.QUESTION_ANSWERING && !options.target().kind().equals("predicted")) {
            throw new IllegalArgumentException("question answering explains the predicted start and end positions;"
                    + " target '" + options.target().describe() + "' applies to classification");
        }
        this.forwardAnalyses = options.has(Analysis.NORMS) ? new ForwardAnalyses(model) : null;
    }

    public AttributionOptions options() {
        return options;
    }

    public TransformerModel model() {
        return model;
    }

    /** Encodes an input; {@code labelIndex} is needed only for {@code target=label}. */
    public Sample sample(TextInput input, Integer labelIndex) {
        return new Sample(input, predictor.encode(input), labelIndex);
    }

    /** Explains every sample; results are in the samples' order and independent of how rows are batched. */
    public List<SampleAttribution> attribute(List<Sample> samples) {
        TransformerModel.disableGradModeOnThisThread();
        List<Integer> order = IntStream.range(0, samples.size()).boxed()
                .sorted(Comparator.comparingInt(i -> samples.get(i).length())).toList();
        List<Sample> sorted = order.stream().map(samples::get).toList();
        List<ForwardPart> forward = forwardPass(sorted);

        List<List<ResolvedTarget>> targets = new ArrayList<>();
        List<long[]> baselines = new ArrayList<>();
        for (int i = 0; i < sorted.size(); i++) {
            targets.add(options.needsGradients() ? resolveTargets(sorted.get(i), forward.get(i).prediction)
                    : List.of());
            baselines.add(options.needsGradients() ? options.baseline().ids(sorted.get(i).encoding(),
                    predictor.tokenizer().specialTokens(), model.config().vocabSize()) : null);
        }
        List<PathSweep.Item> items = PathSweep.items(sorted, targets, baselines, model.config().numLayers());
        SweepPoints points = options.needsPath() ? options.sweepPoints()
                : new SweepPoints(new double[] {0, 1}, new double[] {0, 0}, new boolean[] {false, false}, 0, 0);
        if (!items.isEmpty()) {
            sweep(items, points);
        }

        SampleAttribution[] out = new SampleAttribution[samples.size()];
        int next = 0;
        for (int i = 0; i < sorted.size(); i++) {
            List<TargetAttribution> results = new ArrayList<>();
            for (int t = 0; t < targets.get(i).size(); t++) {
                results.add(finish(items.get(next++)));
            }
            ForwardPart f = forward.get(i);
            out[order.get(i)] = new SampleAttribution(sorted.get(i), f.prediction, f.attentions, f.normFx,
                    f.normAlphaFx, f.normSumAlphaFx, f.rollout, results,
                    options.has(Analysis.INTEGRATED_GRADIENTS) ? points.pointsIg() : 0,
                    options.has(Analysis.LAYER_CONDUCTANCE) || options.has(Analysis.ATTENTION_CONDUCTANCE)
                            ? points.pointsConductance() : 0);
        }
        return List.of(out);
    }

    private void sweep(List<PathSweep.Item> items, SweepPoints points) {
        PathSweep sweep = new PathSweep(model, options, points, predictor.padId());
        boolean embedding = options.has(Analysis.INTEGRATED_GRADIENTS) || options.has(Analysis.GRAD_X_INPUT);
        boolean gate = options.has(Analysis.HEAD_IMPORTANCE);
        Set<Integer> allLayers = IntStream.range(0, model.config().numLayers()).boxed().collect(Collectors.toSet());
        Set<Integer> layers = options.has(Analysis.LAYER_CONDUCTANCE) ? allLayers : Set.of();
        Set<Integer> attentions = options.has(Analysis.ATTENTION_CONDUCTANCE) ? allLayers : Set.of();
        if (options.strategy() == Strategy.SINGLE_PASS) {
            sweep.run(items, new PathSweep.Taps(embedding, gate, layers, attentions));
            return;
        }
        // Captum's way: integrated gradients in one sweep, then one sweep per layer and per attention tensor.
        sweep.run(items, new PathSweep.Taps(embedding, gate, Set.of(), Set.of()));
        for (int l : layers) {
            sweep.run(items, new PathSweep.Taps(false, false, Set.of(l), Set.of()));
        }
        for (int l : attentions) {
            sweep.run(items, new PathSweep.Taps(false, false, Set.of(), Set.of(l)));
        }
    }

    /** What the forward pass at the input gives one sample. */
    private static final class ForwardPart {
        Prediction prediction;
        float[][][][] attentions;
        float[][][] normFx;
        float[][][][] normAlphaFx;
        float[][][] normSumAlphaFx;
        float[][] rollout;
    }

    private List<ForwardPart> forwardPass(List<Sample> sorted) {
        boolean keepAttentions = options.has(Analysis.ATTENTION) || options.has(Analysis.NORMS)
                || options.has(Analysis.ROLLOUT);
        List<ForwardPart> parts = new ArrayList<>();
        int chunk = options.internalBatchSize();
        for (int from = 0; from < sorted.size(); from += chunk) {
            List<Sample> samples = sorted.subList(from, Math.min(sorted.size(), from + chunk));
            EncodedBatch batch = EncodedBatch.ofTexts(samples.stream().map(Sample::encoding).toList(),
                    predictor.padId());
            ForwardOptions forward = ForwardOptions.predictOnly();
            if (keepAttentions) {
                forward.keepAttentions();
            }
            if (options.has(Analysis.NORMS)) {
                forward.keepValues();
            }
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult r = model.forward(batch, forward, scope);
                for (int b = 0; b < samples.size(); b++) {
                    parts.add(forwardPart(samples.get(b), r, b));
                }
            }
        }
        return parts;
    }

    private ForwardPart forwardPart(Sample sample, ForwardResult r, int b) {
        int n = sample.length();
        int layers = model.config().numLayers();
        ForwardPart p = new ForwardPart();
        p.prediction = predictor.prediction(sample.input(), sample.encoding(), r, b);
        if (options.has(Analysis.ATTENTION)) {
            p.attentions = new float[layers][][][];
            for (int l = 0; l < layers; l++) {
                p.attentions[l] = Tensors.to3d(r.attentions().get(l).get(new NDIndex("{}, :, :{}, :{}", b, n, n)));
            }
        }
        if (options.has(Analysis.NORMS)) {
            p.normFx = new float[layers][][];
            p.normAlphaFx = new float[layers][][][];
            p.normSumAlphaFx = new float[layers][][];
            for (int l = 0; l < layers; l++) {
                NDArray[] norms = forwardAnalyses.norms(r.attentions().get(l), r.values().get(l), l, b, n);
                p.normFx[l] = Tensors.to2d(norms[0]);
                p.normAlphaFx[l] = Tensors.to3d(norms[1]);
                p.normSumAlphaFx[l] = Tensors.to2d(norms[2]);
            }
        }
        if (options.has(Analysis.ROLLOUT)) {
            p.rollout = Tensors.to2d(ForwardAnalyses.rollout(r.attentions(), b, n));
        }
        return p;
    }

    private List<ResolvedTarget> resolveTargets(Sample sample, Prediction prediction) {
        ModelConfig config = model.config();
        if (config.task() == Task.QUESTION_ANSWERING) {
            int start;
            int end;
            if (options.qaReduction() == QaReduction.MAX || prediction.answer().start() < 0) {
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
        int heads = model.config().numHeads();
        float[] igSum = null;
        float[] igNorm = null;
        double delta = Double.NaN;
        if (item.igGradientSum != null) {
            int width = item.igGradientSum.length / n;
            igSum = new float[n];
            double total = 0;
            double squares = 0;
            for (int i = 0; i < n; i++) {
                double s = 0;
                for (int d = 0; d < width; d++) {
                    s += item.inputMinusBaseline[i * width + d] * item.igGradientSum[i * width + d];
                }
                igSum[i] = (float) s;
                total += s;
                squares += s * s;
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
            layerToken = new float[layers][n];
            layerTotal = new double[layers];
            for (int l = 0; l < layers; l++) {
                for (int i = 0; i < n; i++) {
                    layerToken[l][i] = (float) item.layerToken[l][i];
                    layerTotal[l] += item.layerToken[l][i];
                }
            }
        }
        float[][][][] attention = null;
        if (item.attention[0] != null) {
            attention = new float[layers][heads][n][n];
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            attention[l][h][i][j] = (float) item.attention[l][(h * n + i) * n + j];
                        }
                    }
                }
            }
        }
        return new TargetAttribution(item.target.name(), item.target.index(), item.target.label(), item.fInput,
                item.fBaseline, igSum, igNorm, delta, layerToken, layerTotal, attention, item.gradXInput,
                item.headImportance);
    }

    @Override
    public void close() {
        if (forwardAnalyses != null) {
            forwardAnalyses.close();
        }
    }

}
