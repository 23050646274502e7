package io.attributionatlas.attribution.sweep;

import java.util.List;
import java.util.Locale;

/** How layer conductance integrates along the path (DESIGN.md, "The single-pass sweep"). */
public enum ConductanceRule {
    /**
     * The sweep's points plus both end points α = 0 and α = 1, trapezoid on each interval:
     * {@code Σ ½(g_k + g_{k+1}) ⊙ (y_{k+1} − y_k)}; telescopes to y(1) − y(0), O(1/n²) complete.
     */
    TRAPEZOID,
    /** Captum LayerConductance: the method's n+1 points, left gradients: {@code Σ g_k ⊙ (y_{k+1} − y_k)}. */
    CAPTUM,
    /**
     * The same points as trapezoid; on each interval, the exact integral of the product of the quadratic
     * interpolants of g and y through three consecutive points (for the first interval, points 0, 1, 2):
     * O(1/n³) instead of O(1/n²), at the cost of carrying two previous points instead of one (its band in
     * {@link PathWeights}).
     */
    QUADRATIC;

    /**
     * Adds the intervals that end at chain point {@code global} (local index {@code p} into
     * {@code alphas}): each as a stencil of local point indices and weights W[i][j], so that the
     * interval contributes Σ_ij W_ij g_i ⊙ y_j.
     *
     * @param chainLength how many points the whole chain has
     */
    void intervals(int global, int p, double[] alphas, int chainLength, List<int[]> stencils,
            List<double[][]> weights) {
        if (global == 0) {
            return;
        }
        if (this == QUADRATIC && chainLength >= 3) {
            if (global == 1) {
                return; // the first interval waits for the third point
            }
            int[] stencil = {p - 2, p - 1, p};
            double[] nodes = {alphas[p - 2], alphas[p - 1], alphas[p]};
            if (global == 2) {
                stencils.add(stencil);
                weights.add(quadraticWeights(nodes, nodes[0], nodes[1]));
            }
            stencils.add(stencil);
            weights.add(quadraticWeights(nodes, nodes[1], nodes[2]));
            return;
        }
        stencils.add(new int[] {p - 1, p});
        // trapezoid: ½(g0 + g1)(y1 − y0); captum: g0 (y1 − y0)
        weights.add(this == CAPTUM ? new double[][] {{-1, 1}, {0, 0}} : new double[][] {{-0.5, 0.5}, {-0.5, 0.5}});
    }

    /** W_ij = ∫_a^b L_i(α) L_j'(α) dα for the Lagrange basis on three nodes (2-point Gauss–Legendre is exact). */
    public static double[][] quadraticWeights(double[] t, double a, double b) {
        double half = (b - a) / 2;
        double mid = (a + b) / 2;
        double[] xs = {mid - half / Math.sqrt(3), mid + half / Math.sqrt(3)};
        double[][] w = new double[3][3];
        for (double x : xs) {
            for (int i = 0; i < 3; i++) {
                double li = 1;
                for (int k = 0; k < 3; k++) {
                    if (k != i) {
                        li *= (x - t[k]) / (t[i] - t[k]);
                    }
                }
                for (int j = 0; j < 3; j++) {
                    double derivative = 0;
                    for (int skip = 0; skip < 3; skip++) {
                        if (skip == j) {
                            continue;
                        }
                        double term = 1 / (t[j] - t[skip]);
                        for (int k = 0; k < 3; k++) {
                            if (k != j && k != skip) {
                                term *= (x - t[k]) / (t[j] - t[k]);
                            }
                        }
                        derivative += term;
                    }
                    w[i][j] += half * li * derivative;
                }
            }
        }
        return w;
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static ConductanceRule parse(String name) {
        return switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "trapezoid" -> TRAPEZOID;
            case "captum" -> CAPTUM;
            case "quadratic" -> QUADRATIC;
            default -> throw new IllegalArgumentException("unknown conductance rule '" + name
                    + "' (expected trapezoid, captum or quadratic)");
        };
    }
}
