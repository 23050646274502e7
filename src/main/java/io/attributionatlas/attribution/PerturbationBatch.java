package io.attributionatlas.attribution;

import ai.djl.ndarray.NDManager;
import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.function.IntUnaryOperator;

/**
 * Forward passes (no gradients) over perturbed copies of many samples at once, for the perturbation methods and
 * faithfulness: each copy has some tokens replaced by the baseline's id at that position (special tokens are
 * never replaced) and gives its target's output F as the sweep defines it (logit or probability; for QA the
 * start or end output at its position, or its maximum over the sample's positions). All copies of all requests
 * are sorted by length and run in padded passes of as many rows as the memory budget allows at that length.
 */
public final class PerturbationBatch {

    /** One sample's copies for one target: masks in, F on each out (after {@link #run}). */
    static final class Request {
        final EncodedText text;
        final long[] baseline;
        final TargetAttribution target;
        final boolean probability;
        final List<boolean[]> masks;
        final double[] outputs;

        private Request(EncodedText text, long[] baseline, TargetAttribution target, boolean probability,
                List<boolean[]> masks) {
            this.text = text;
            this.baseline = baseline;
            this.target = target;
            this.probability = probability;
            this.masks = masks;
            this.outputs = new double[masks.size()];
        }
    }

    private final TransformerModel model;
    private final AttributionOptions options;
    private final long padId;
    private final IntUnaryOperator rowsAtLength;
    private final List<Request> requests = new ArrayList<>();

    PerturbationBatch(Predictor predictor, AttributionOptions options, IntUnaryOperator rowsAtLength) {
        this.model = predictor.model();
        this.options = options;
        this.padId = predictor.padId();
        this.rowsAtLength = rowsAtLength;
    }

    /** Adds copies of {@code text} (masks over its tokens); {@code probability} forces F to the probability. */
    Request add(EncodedText text, long[] baseline, TargetAttribution target, List<boolean[]> masks,
            boolean probability) {
        Request r = new Request(text, baseline, target, probability || options.output() == Output.PROBABILITY,
                masks);
        requests.add(r);
        return r;
    }

    /** Evaluates every copy added so far. */
    void run() {
        List<int[]> rows = new ArrayList<>(); // {request, mask}
        for (int q = 0; q < requests.size(); q++) {
            for (int m = 0; m < requests.get(q).masks.size(); m++) {
                rows.add(new int[] {q, m});
            }
        }
        rows.sort(Comparator.comparingInt(r -> requests.get(r[0]).text.length()));
        for (int start = 0; start < rows.size(); ) {
            int end = start + 1;
            while (end < rows.size() && end - start < rowsAtLength.applyAsInt(requests.get(rows.get(end)[0]).text
                    .length())) {
                end++;
            }
            evaluate(rows.subList(start, end));
            start = end;
        }
        requests.clear();
    }

    private void evaluate(List<int[]> rows) {
        List<long[]> ids = new ArrayList<>();
        List<long[]> types = new ArrayList<>();
        for (int[] row : rows) {
            Request r = requests.get(row[0]);
            boolean[] mask = r.masks.get(row[1]);
            long[] v = r.text.ids().clone();
            for (int i = 0; i < v.length; i++) {
                if (mask[i] && !r.text.special()[i]) {
                    v[i] = r.baseline[i];
                }
            }
            ids.add(v);
            types.add(r.text.typeIds());
        }
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult result = model.forward(EncodedBatch.pad(ids, types, padId), ForwardOptions.predictOnly(),
                    scope);
            // The pass's outputs cross to the host in one transfer.
            HostTransfer transfer = new HostTransfer();
            boolean classes = result.logits() != null;
            int logitsAt = transfer.add(classes ? result.logits() : result.startLogits());
            int endAt = classes ? -1 : transfer.add(result.endLogits());
            HostTransfer.Fetched host = transfer.fetch();
            int width = (int) (classes ? result.logits() : result.startLogits()).getShape().get(1);
            for (int b = 0; b < rows.size(); b++) {
                Request r = requests.get(rows.get(b)[0]);
                r.outputs[rows.get(b)[1]] = output(host, r.target.name().equals("end") ? endAt : logitsAt, width, b, r);
            }
        }
    }

    /** F of row {@code b} from the pass's [rows, width] logits (or start / end logits) at {@code offset}. */
    private double output(HostTransfer.Fetched host, int offset, int width, int b, Request r) {
        TargetAttribution t = r.target;
        if (t.name().equals("class")) {
            float[] logits = host.row(offset + b * width, width);
            return r.probability ? Predictor.softmax(logits)[t.index()] : logits[t.index()];
        }
        // Only the sample's own positions: padding in the pass must not enter a softmax or a maximum.
        float[] positions = host.row(offset + b * width, r.text.length());
        float[] values = r.probability ? Predictor.softmax(positions) : positions;
        return options.qaReduction() == QaReduction.MAX ? values[Predictor.argmax(values)] : values[t.index()];
    }

    /** The mask that changes nothing: F at the input itself. */
    static List<boolean[]> unchanged(EncodedText text) {
        return List.of(new boolean[text.length()]);
    }

    /** Token masks from word masks (true = every token of the word replaced). */
    public static List<boolean[]> tokenMasks(EncodedText text, List<boolean[]> wordsOff) {
        List<boolean[]> masks = new ArrayList<>();
        int[] words = text.words();
        for (boolean[] off : wordsOff) {
            boolean[] mask = new boolean[words.length];
            for (int i = 0; i < words.length; i++) {
                mask[i] = words[i] >= 0 && off[words[i]];
            }
            masks.add(mask);
        }
        return masks;
    }

    /** Seeds the sampling methods' draws from the option and the sample's tokens: the same sample, the same draws. */
    static long seed(AttributionOptions options, EncodedText text) {
        return options.seed() * 1_000_003L + java.util.Arrays.hashCode(text.ids());
    }
}
