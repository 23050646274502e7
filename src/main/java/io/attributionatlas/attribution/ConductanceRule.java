package io.attributionatlas.attribution;

import java.util.Locale;

/** How layer conductance integrates along the path (DESIGN.md, "The single-pass sweep"). */
public enum ConductanceRule {
    /**
     * The sweep's points plus both end points α = 0 and α = 1, trapezoid on each interval:
     * {@code Σ ½(g_k + g_{k+1}) ⊙ (y_{k+1} − y_k)}; telescopes to y(1) − y(0), O(1/n²) complete.
     */
    TRAPEZOID,
    /** Captum LayerConductance: the method's n+1 points, left gradients: {@code Σ g_k ⊙ (y_{k+1} − y_k)}. */
    CAPTUM;

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ConductanceRule parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "trapezoid" -> TRAPEZOID;
            case "captum" -> CAPTUM;
            default -> throw new IllegalArgumentException("unknown conductance rule '" + name
                    + "' (expected trapezoid or captum)");
        };
    }
}
