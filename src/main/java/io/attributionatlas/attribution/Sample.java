package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.TextInput;

/**
 * One input to explain: its text, its encoding, (for {@code target=label}) its label's class index, and whether
 * its [L][H][S][S] matrices (attention, norms, rollout, attention conductance) come to the host. Without them a
 * sample still gets every per-head statistic, reduced on the model's device; a corpus job copies matrices only
 * for the samples it dumps.
 */
public record Sample(TextInput input, EncodedText encoding, Integer labelIndex, boolean matrices) {

    public Sample(TextInput input, EncodedText encoding, Integer labelIndex) {
        this(input, encoding, labelIndex, true);
    }

    /** The same sample, its matrices left on the device. */
    public Sample withoutMatrices() {
        return new Sample(input, encoding, labelIndex, false);
    }

    public int length() {
        return encoding.length();
    }
}
