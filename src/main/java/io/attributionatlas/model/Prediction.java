package io.attributionatlas.model;

/**
 * A model's output for one input. Classification fills {@code logits}, {@code probabilities} and the
 * label; question answering fills the start/end logits (one per token) and the answer span.
 */
public record Prediction(
        TextInput input,
        EncodedText encoding,
        float[] logits,
        float[] probabilities,
        int labelIndex,
        String label,
        float[] startLogits,
        float[] endLogits,
        AnswerSpan answer) {

    /**
     * The best answer span: token indices {@code start..end} inclusive, its text, the score
     * start_logit + end_logit, and the score of "no answer" (both at [CLS]) for SQuAD 2.0-style models.
     */
    public record AnswerSpan(int start, int end, String text, float score, float noAnswerScore) {
    }
}
