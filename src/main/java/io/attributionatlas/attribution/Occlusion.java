package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;

/**
 * Captum's {@code Occlusion} over tokens: a window of {@code window} consecutive tokens (special tokens are
 * skipped and left alone) slides with stride 1; each window replaced by the baseline changes F by
 * F(x) − F(x with the window occluded), and a token's attribution is the mean change over the windows that
 * cover it. Special tokens get 0. Costs 1 + (content tokens − window + 1) forward passes.
 */
final class Occlusion {

    private Occlusion() {
    }

    static PerturbationPlan<MethodScores> plan(EncodedText text, int window) {
        boolean[] special = text.special();
        List<Integer> content = new ArrayList<>();
        for (int i = 0; i < special.length; i++) {
            if (!special[i]) {
                content.add(i);
            }
        }
        List<boolean[]> masks = new ArrayList<>();
        int w = Math.min(window, content.size());
        for (int start = 0; w > 0 && start + w <= content.size(); start++) {
            boolean[] mask = new boolean[special.length];
            for (int k = start; k < start + w; k++) {
                mask[content.get(k)] = true;
            }
            masks.add(mask);
        }
        long passes = masks.isEmpty() ? 0 : masks.size() + 1;
        return new PerturbationPlan<>(masks, !masks.isEmpty(), (original, occluded) -> {
            double[] sum = new double[special.length];
            int[] count = new int[special.length];
            for (int m = 0; m < masks.size(); m++) {
                for (int i = 0; i < special.length; i++) {
                    if (masks.get(m)[i]) {
                        sum[i] += original - occluded[m];
                        count[i]++;
                    }
                }
            }
            float[] scores = new float[special.length];
            for (int i = 0; i < special.length; i++) {
                scores[i] = count[i] == 0 ? 0f : (float) (sum[i] / count[i]);
            }
            return MethodScores.ofTokens(Method.OCCLUSION.cliName(), scores, text.words(), passes, 0);
        });
    }
}
