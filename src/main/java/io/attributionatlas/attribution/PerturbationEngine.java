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
import java.util.List;

/**
 * Forward passes (no gradients) over perturbed copies of one sample, for the perturbation methods: each copy has
 * some tokens replaced by the baseline's id at that position (pad by default; special tokens are never
 * replaced), and gives the target's output F as the sweep defines it (logit or probability; for QA the start or
 * end output at its position, or its maximum). Copies have the sample's length, so a pass has no padding; passes
 * hold at most {@code rowsPerPass} rows (the memory budget's forward rows). Counts the rows it evaluates.
 */
final class PerturbationEngine {

    private final TransformerModel model;
    private final AttributionOptions options;
    private final EncodedText text;
    private final long[] baseline;
    private final TargetAttribution target;
    private final long padId;
    private final int rowsPerPass;
    private final boolean probability;
    private long forwardPasses;
    private Double original;

    PerturbationEngine(Predictor predictor, AttributionOptions options, EncodedText text, TargetAttribution target,
            int rowsPerPass) {
        this(predictor, options, text, target, rowsPerPass, options.output() == Output.PROBABILITY);
    }

    /** With {@code probability}, F is the target's probability whatever the output option (faithfulness). */
    PerturbationEngine(Predictor predictor, AttributionOptions options, EncodedText text, TargetAttribution target,
            int rowsPerPass, boolean probability) {
        this.probability = probability;
        this.model = predictor.model();
        this.options = options;
        this.text = text;
        this.target = target;
        this.padId = predictor.padId();
        this.rowsPerPass = Math.max(1, rowsPerPass);
        this.baseline = options.baseline().ids(text, predictor.tokenizer().specialTokens(),
                predictor.tokenizer().vocabularySize());
    }

    EncodedText text() {
        return text;
    }

    /** Seeds the methods' random draws from the option and the sample's tokens: the same sample, the same draws. */
    long seed() {
        return options.seed() * 1_000_003L + java.util.Arrays.hashCode(text.ids());
    }

    /** F at the input itself (evaluated once). */
    double original() {
        if (original == null) {
            original = evaluate(List.of(new boolean[text.length()]))[0];
        }
        return original;
    }

    /** F with, for each mask, the tokens where it is true replaced by the baseline. */
    double[] evaluate(List<boolean[]> masks) {
        double[] out = new double[masks.size()];
        for (int start = 0; start < masks.size(); start += rowsPerPass) {
            int end = Math.min(masks.size(), start + rowsPerPass);
            List<long[]> ids = new ArrayList<>();
            List<long[]> types = new ArrayList<>();
            for (boolean[] mask : masks.subList(start, end)) {
                long[] v = text.ids().clone();
                for (int i = 0; i < v.length; i++) {
                    if (mask[i] && !text.special()[i]) {
                        v[i] = baseline[i];
                    }
                }
                ids.add(v);
                types.add(text.typeIds());
            }
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult r = model.forward(EncodedBatch.pad(ids, types, padId), ForwardOptions.predictOnly(),
                        scope);
                for (int b = 0; b < end - start; b++) {
                    out[start + b] = output(r, b);
                }
            }
        }
        forwardPasses += masks.size();
        return out;
    }

    /** F with, for each word mask, every token of the words where it is true replaced by the baseline. */
    double[] evaluateWords(List<boolean[]> wordMasks) {
        List<boolean[]> masks = new ArrayList<>();
        int[] words = text.words();
        for (boolean[] off : wordMasks) {
            boolean[] mask = new boolean[words.length];
            for (int i = 0; i < words.length; i++) {
                mask[i] = words[i] >= 0 && off[words[i]];
            }
            masks.add(mask);
        }
        return evaluate(masks);
    }

    private double output(ForwardResult r, int b) {
        if (target.name().equals("class")) {
            float[] logits = r.logits().get(b).toFloatArray();
            return probability ? Predictor.softmax(logits)[target.index()] : logits[target.index()];
        }
        float[] positions = (target.name().equals("start") ? r.startLogits() : r.endLogits()).get(b).toFloatArray();
        float[] values = probability ? Predictor.softmax(positions) : positions;
        if (options.qaReduction() == QaReduction.MAX) {
            return values[Predictor.argmax(values)];
        }
        return values[target.index()];
    }

    long forwardPasses() {
        return forwardPasses;
    }
}
