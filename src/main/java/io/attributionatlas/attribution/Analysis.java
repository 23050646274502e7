package io.attributionatlas.attribution;

import java.util.EnumSet;
import java.util.Locale;
import java.util.Set;

/** The analyses an explanation can include; each can be switched off. */
public enum Analysis {
    /** Attention probabilities (layer × head × query × key). Forward only. */
    ATTENTION(false),
    /** Kobayashi et al. 2020 vector norms. Forward only. */
    NORMS(false),
    /** Attention rollout (Abnar and Zuidema 2020). Forward only. */
    ROLLOUT(false),
    /** Gradient × input at the embedding output, at the input itself. */
    GRAD_X_INPUT(true),
    /** |∂F/∂ξ_h| from a head gate ξ = 1 (Michel et al. 2019), at the input itself. */
    HEAD_IMPORTANCE(true),
    /** Integrated gradients on the embedding output (Captum LayerIntegratedGradients on the embeddings). */
    INTEGRATED_GRADIENTS(true),
    /** Conductance of every layer's output, token level. */
    LAYER_CONDUCTANCE(true),
    /** Conductance of every layer's attention probabilities. */
    ATTENTION_CONDUCTANCE(true);

    private final boolean gradient;

    Analysis(boolean gradient) {
        this.gradient = gradient;
    }

    public boolean needsGradient() {
        return gradient;
    }

    /** Whether the analysis integrates along the baseline → input path (the sweep). */
    public boolean needsPath() {
        return this == INTEGRATED_GRADIENTS || this == LAYER_CONDUCTANCE || this == ATTENTION_CONDUCTANCE;
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Set<Analysis> all() {
        return EnumSet.allOf(Analysis.class);
    }

    public static Set<Analysis> forwardOnly() {
        return EnumSet.of(ATTENTION, NORMS, ROLLOUT);
    }

    public static Analysis parse(String s) {
        for (Analysis a : values()) {
            if (a.cliName().equals(s.trim().toLowerCase(Locale.ROOT))) {
                return a;
            }
        }
        throw new IllegalArgumentException("unknown analysis '" + s + "'");
    }
}
