package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PerturbationBatch;
import io.attributionatlas.attribution.PerturbationPlan;
import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;

/**
 * Captum's {@code FeatureAblation} with one feature per word: a word's attribution is F(x) − F(x with all of
 * the word's tokens replaced by the baseline), and each of its tokens carries it. 1 + words forward passes.
 */
public final class WordAblation extends NamedMethod {

    public static final String NAME = "word_ablation";

    public WordAblation() {
        super(NAME, "Captum FeatureAblation with one feature per word", Passes.PERTURBATION);
    }

    @Override
    public PerturbationPlan<MethodScores> plan(EncodedText text, MethodContext context) {
        return plan(text);
    }

    public static PerturbationPlan<MethodScores> plan(EncodedText text) {
        int count = MethodScores.wordCount(text.words());
        List<boolean[]> off = new ArrayList<>();
        for (int w = 0; w < count; w++) {
            boolean[] one = new boolean[count];
            one[w] = true;
            off.add(one);
        }
        List<boolean[]> masks = PerturbationBatch.tokenMasks(text, off);
        return new PerturbationPlan<>(masks, count > 0, (original, ablated) -> {
            float[] scores = new float[count];
            for (int w = 0; w < count; w++) {
                scores[w] = (float) (original - ablated[w]);
            }
            return MethodScores.ofWords(NAME, scores, text.words(),
                    masks.size() + (count > 0 ? 1 : 0), 0);
        });
    }
}
