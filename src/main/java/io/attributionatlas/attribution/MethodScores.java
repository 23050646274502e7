package io.attributionatlas.attribution;

/**
 * One attribution method's result for one target: a score per token, and per word (word-level methods score
 * words; token-level scores are summed per word), with what it cost in model passes. The open result type that
 * {@code explain --json} ({@code targets[i].methods.<name>}) iterates.
 *
 * @param tokenAttributions [S] (special tokens: 0 for perturbation methods, which leave them alone)
 * @param wordAttributions [W] over the encoding's word ids (counted across both texts)
 * @param forwardPasses model rows evaluated forward for this method alone
 * @param backwardPasses model rows back-propagated for this method alone
 * @param headScores per-head importance [L][H] (attention attribution), else null
 * @param matrices per-head-pair scores [L][H][S][S] (attention attribution), else null
 * @param layerMatrices per-layer token-to-token contributions [L][S][S], row i (the token receiving) and column j
 *     (the token contributing), of the decomposition methods; null for the others, and for samples that do not keep
 *     their matrices
 * @param biasPart the part of the target's score that belongs to no token (DecompX with {@code decompx_bias=separate}:
 *     the tokens' scores and it sum to the logit), else null
 * @param partNorms per-layer ‖part‖₂ [L][S][S] of a method that keeps each token's part of every hidden state (DecompX:
 *     row i the hidden state, column k the token; the authors' per-layer output), else null; null where
 *     {@code layerMatrices} is
 */
public record MethodScores(String name, float[] tokenAttributions, float[] wordAttributions, long forwardPasses,
        long backwardPasses, float[][] headScores, float[][][][] matrices, float[][][] layerMatrices, Float biasPart,
        float[][][] partNorms) {

    public MethodScores(String name, float[] tokenAttributions, float[] wordAttributions, long forwardPasses,
            long backwardPasses, float[][] headScores, float[][][][] matrices, float[][][] layerMatrices) {
        this(name, tokenAttributions, wordAttributions, forwardPasses, backwardPasses, headScores, matrices,
                layerMatrices, null, null);
    }

    /** Per-word sums of per-token scores ({@code words[i]} = -1 for special tokens, which belong to none). */
    public static float[] wordSums(float[] tokens, int[] words) {
        float[] out = new float[wordCount(words)];
        for (int i = 0; i < tokens.length; i++) {
            if (words[i] >= 0) {
                out[words[i]] += tokens[i];
            }
        }
        return out;
    }

    public static int wordCount(int[] words) {
        int max = -1;
        for (int w : words) {
            max = Math.max(max, w);
        }
        return max + 1;
    }

    /** Token-level scores with their word sums. */
    public static MethodScores ofTokens(String name, float[] tokens, int[] words, long forward, long backward) {
        return new MethodScores(name, tokens, wordSums(tokens, words), forward, backward, null, null, null);
    }

    /** Word-level scores, each token carrying its word's score (Captum's feature-mask convention). */
    public static MethodScores ofWords(String name, float[] wordScores, int[] words, long forward, long backward) {
        float[] tokens = new float[words.length];
        for (int i = 0; i < words.length; i++) {
            tokens[i] = words[i] >= 0 ? wordScores[words[i]] : 0f;
        }
        return new MethodScores(name, tokens, wordScores, forward, backward, null, null, null);
    }

    /** Token scores with their word sums, per-head scores [L][H] (or null) and per-layer matrices [L][S][S]. */
    public static MethodScores ofDecomposition(String name, float[] tokens, int[] words, long forward,
            float[][] headScores, float[][][] layerMatrices) {
        return new MethodScores(name, tokens, wordSums(tokens, words), forward, 0, headScores, null, layerMatrices);
    }

    /** The same scores with a bias part (or null) and per-layer part norms [L][S][S] (or null). */
    public MethodScores withDecomposition(Float bias, float[][][] norms) {
        return new MethodScores(name, tokenAttributions, wordAttributions, forwardPasses, backwardPasses, headScores,
                matrices, layerMatrices, bias, norms);
    }

    /** The same scores without the per-layer matrices (a sample that does not keep its matrices). */
    public MethodScores withoutLayerMatrices() {
        return layerMatrices == null && partNorms == null ? this : new MethodScores(name, tokenAttributions,
                wordAttributions, forwardPasses, backwardPasses, headScores, matrices, null, biasPart, null);
    }
}
