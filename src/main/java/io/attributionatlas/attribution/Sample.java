package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.TextInput;

/**
 * One input to explain: its text, its encoding, (for {@code target=label}) its label's class index, whether its
 * [L][H][S][S] matrices (attention, norms, rollout, attention conductance, the neuron view's query and key vectors)
 * come to the host, and the token positions whose contextual embeddings do ({@link TokenEmbeddings}). Without
 * matrices a sample still gets every per-head statistic, reduced on the model's device; a corpus job copies
 * matrices only for the samples it dumps.
 */
public record Sample(TextInput input, EncodedText encoding, Integer labelIndex, boolean matrices,
        int[] embeddingPositions) {

    private static final int[] NONE = new int[0];

    public Sample(TextInput input, EncodedText encoding, Integer labelIndex) {
        this(input, encoding, labelIndex, true, NONE);
    }

    /** The same sample, its matrices left on the device. */
    public Sample withoutMatrices() {
        return new Sample(input, encoding, labelIndex, false, embeddingPositions);
    }

    /** The same sample, copying the contextual embeddings of these token positions (ascending, below its length). */
    public Sample withEmbeddingPositions(int[] positions) {
        return new Sample(input, encoding, labelIndex, matrices, positions.clone());
    }

    public int length() {
        return encoding.length();
    }
}
