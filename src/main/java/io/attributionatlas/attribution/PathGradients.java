package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.TransformerModel;
import java.util.Collections;

/**
 * What a gradient method with passes of its own ({@link AttributionMethod.Passes#GRADIENT}) works on: one sample
 * and one target, the model, the options, rows per pass within the memory budget, copies of the sample as a batch,
 * and the target's objective as the sweep defines it. GradientSHAP, NoiseTunnel and attention attribution run
 * their passes through it.
 */
public final class PathGradients {

    private final TransformerModel model;
    private final AttributionOptions options;
    private final EncodedText text;
    private final TargetAttribution target;
    private final long padId;
    private final int rowsPerPass;

    PathGradients(TransformerModel model, AttributionOptions options, EncodedText text, TargetAttribution target,
            long padId, int rowsPerPass) {
        this.model = model;
        this.options = options;
        this.text = text;
        this.target = target;
        this.padId = padId;
        this.rowsPerPass = Math.max(1, rowsPerPass);
    }

    public TransformerModel model() {
        return model;
    }

    public AttributionOptions options() {
        return options;
    }

    /** The sample's encoding. */
    public EncodedText text() {
        return text;
    }

    /** Rows one forward and backward pass may take (the memory budget's). */
    public int rowsPerPass() {
        return rowsPerPass;
    }

    /** {@code rows} copies of the sample (one sample: no padding). */
    public EncodedBatch batch(int rows) {
        return EncodedBatch.pad(Collections.nCopies(rows, text.ids()), Collections.nCopies(rows, text.typeIds()),
                padId);
    }

    /** Σ over rows of the target's output, as the sweep defines it (one sample: no padding). */
    public NDArray objective(ForwardResult r) {
        boolean probability = options.output() == Output.PROBABILITY;
        if (target.name().equals("class")) {
            NDArray logits = probability ? r.logits().softmax(-1) : r.logits();
            return logits.get(":, " + target.index()).sum();
        }
        NDArray positions = target.name().equals("start") ? r.startLogits() : r.endLogits();
        NDArray values = probability ? positions.softmax(-1) : positions;
        if (options.qaReduction() == QaReduction.MAX) {
            return values.max(new int[] {-1}).sum();
        }
        return values.get(":, " + target.index()).sum();
    }
}
