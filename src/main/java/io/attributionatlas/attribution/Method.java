package io.attributionatlas.attribution;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The attribution methods, by the names {@code explain --methods} and the job's {@code methods} key take. */
public enum Method {
    /** Integrated gradients at the embedding output, summed over hidden (the sweep's). */
    INTEGRATED_GRADIENTS,
    /** |∂F/∂e| summed over hidden, at the embedding output, at the input. */
    SALIENCY,
    /** ∂F/∂e · e summed over hidden, at the input. */
    INPUT_X_GRADIENT,
    /** Captum GradientShap: gradients at random points between the baseline and the noised input. */
    GRADIENT_SHAP,
    /** Captum Occlusion: a sliding window of tokens replaced by the baseline, stride 1, special tokens left alone. */
    OCCLUSION,
    /** Captum FeatureAblation with one feature per word. */
    WORD_ABLATION,
    /** Captum KernelShap over words. */
    KERNEL_SHAP,
    /** Captum Lime over words. */
    LIME,
    /** Captum ShapleyValueSampling over words: mean marginal contributions over random permutations. */
    SHAPLEY_VALUE_SAMPLING,
    /** Captum NoiseTunnel (smoothgrad, smoothgrad_sq, vargrad) around saliency, input × gradient or IG. */
    NOISE_TUNNEL,
    /** Hao et al. 2021: integrated gradients over each layer's attention probabilities. */
    ATTENTION_ATTRIBUTION;

    /** Whether the shared sweep computes it; the others need passes of their own after the sweep. */
    public boolean onSweep() {
        return this == INTEGRATED_GRADIENTS || this == SALIENCY || this == INPUT_X_GRADIENT;
    }

    /** Whether it replaces token ids by the baseline's (perturbation methods). */
    public boolean replacesTokens() {
        return this == OCCLUSION || this == WORD_ABLATION || this == KERNEL_SHAP || this == LIME
                || this == SHAPLEY_VALUE_SAMPLING;
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }


    /** A comma-separated list; empty for none. */
    public static List<Method> parseList(String text) {
        List<Method> out = new ArrayList<>();
        for (String part : text.split(",")) {
            String name = part.trim().toLowerCase(Locale.ROOT);
            if (name.isEmpty()) {
                continue;
            }
            Method m = null;
            for (Method candidate : values()) {
                if (candidate.cliName().equals(name)) {
                    m = candidate;
                }
            }
            if (m == null) {
                throw new IllegalArgumentException("unknown method '" + part.trim() + "' (expected "
                        + String.join(", ", java.util.Arrays.stream(values()).map(Method::cliName).toList()) + ")");
            }
            if (!out.contains(m)) {
                out.add(m);
            }
        }
        return out;
    }
}
