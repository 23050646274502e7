package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodOption;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;
import io.attributionatlas.attribution.PerturbationPlan;
import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;

/**
 * Captum's {@code Occlusion} over tokens: a window of {@code window} consecutive tokens (special tokens are
 * skipped and left alone) slides with stride 1; each window replaced by the baseline changes F by
 * F(x) − F(x with the window occluded), and a token's attribution is the mean change over the windows that
 * cover it. Special tokens get 0. Costs 1 + (content tokens − window + 1) forward passes.
 */
public final class Occlusion extends NamedMethod {

    public static final String NAME = "occlusion";

    /** The window's width in tokens (Captum's sliding_window_shapes). */
    public static final MethodOption<Integer> WINDOW = MethodOption.positiveInt("occlusion_window", 1,
            "Occlusion's window in tokens (stride 1).");

    public Occlusion() {
        super(NAME, "Captum Occlusion: a sliding window of tokens replaced by the baseline, stride 1", Passes.PERTURBATION);
    }

    @Override
    public java.util.List<MethodOption<?>> options() {
        return java.util.List.of(WINDOW);
    }

    @Override
    public PerturbationPlan<MethodScores> plan(EncodedText text, MethodContext context) {
        return plan(text, context.option(WINDOW));
    }

    public static PerturbationPlan<MethodScores> plan(EncodedText text, int window) {
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
            return MethodScores.ofTokens(NAME, scores, text.words(), passes, 0);
        });
    }
}
