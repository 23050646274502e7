package io.attributionatlas.attribution;

import java.util.ArrayList;
import java.util.List;

/**
 * Captum's {@code FeatureAblation} with one feature per word: a word's attribution is F(x) − F(x with all of
 * the word's tokens replaced by the baseline), and each of its tokens carries it. 1 + words forward passes.
 */
final class WordAblation {

    private WordAblation() {
    }

    static MethodScores attribute(PerturbationEngine e) {
        int[] words = e.text().words();
        int count = MethodScores.wordCount(words);
        List<boolean[]> masks = new ArrayList<>();
        for (int w = 0; w < count; w++) {
            boolean[] off = new boolean[count];
            off[w] = true;
            masks.add(off);
        }
        float[] scores = new float[count];
        if (count > 0) {
            double original = e.original();
            double[] ablated = e.evaluateWords(masks);
            for (int w = 0; w < count; w++) {
                scores[w] = (float) (original - ablated[w]);
            }
        }
        return MethodScores.ofWords(Method.WORD_ABLATION.cliName(), scores, words, e.forwardPasses(), 0);
    }
}
