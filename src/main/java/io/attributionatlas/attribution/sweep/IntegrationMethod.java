package io.attributionatlas.attribution.sweep;

import java.util.Locale;

/**
 * Path-integral approximations with exactly Captum's nodes α_k and weights w_k
 * ({@code captum.attr._utils.approximation_methods}): Gauss–Legendre (numpy's leggauss mapped to
 * [0, 1]) and the Riemann rules, whose nodes are torch.linspace in float32. Captum's quirk is kept:
 * {@code riemann_trapezoid} has nodes linspace(0, 1, n) and weights 1/n with both ends halved, so
 * its weights sum to (n − 1)/n.
 */
public enum IntegrationMethod {
    GAUSS_LEGENDRE("gausslegendre"),
    RIEMANN_LEFT("riemann_left"),
    RIEMANN_RIGHT("riemann_right"),
    RIEMANN_MIDDLE("riemann_middle"),
    RIEMANN_TRAPEZOID("riemann_trapezoid");

    private final String captumName;

    IntegrationMethod(String captumName) {
        this.captumName = captumName;
    }

    public String captumName() {
        return captumName;
    }

    public static IntegrationMethod parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        for (IntegrationMethod m : values()) {
            if (m.captumName.equals(n)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown method '" + name
                + "' (expected gausslegendre, riemann_left, riemann_right, riemann_middle or riemann_trapezoid)");
    }

    /** Nodes (ascending) and weights of {@code n} points. */
    public PathPoints points(int n) {
        if (n < 2) {
            throw new IllegalArgumentException("the number of steps must be at least 2, got " + n);
        }
        double[] alphas;
        double[] weights = new double[n];
        java.util.Arrays.fill(weights, 1.0 / n);
        switch (this) {
            case GAUSS_LEGENDRE -> {
                double[][] nodesWeights = gaussLegendre(n);
                alphas = new double[n];
                for (int i = 0; i < n; i++) {
                    alphas[i] = 0.5 * (1 + nodesWeights[0][i]);
                    weights[i] = 0.5 * nodesWeights[1][i];
                }
            }
            case RIEMANN_LEFT -> alphas = linspaceFloat32(0, 1 - 1.0 / n, n);
            case RIEMANN_RIGHT -> alphas = linspaceFloat32(1.0 / n, 1, n);
            case RIEMANN_MIDDLE -> alphas = linspaceFloat32(1.0 / (2 * n), 1 - 1.0 / (2 * n), n);
            case RIEMANN_TRAPEZOID -> {
                alphas = linspaceFloat32(0, 1, n);
                weights[0] /= 2;
                weights[n - 1] /= 2;
            }
            default -> throw new AssertionError(this);
        }
        return new PathPoints(alphas, weights);
    }

    /** torch.linspace on float32: start + i·step for the first half, end − (n−1−i)·step for the rest. */
    public static double[] linspaceFloat32(double start, double end, int n) {
        float s = (float) start;
        float e = (float) end;
        float step = (e - s) / (n - 1);
        int halfway = n / 2;
        double[] out = new double[n];
        for (int i = 0; i < n; i++) {
            out[i] = i < halfway ? s + step * i : e - step * (n - i - 1);
        }
        return out;
    }

    /** numpy.polynomial.legendre.leggauss: roots of P_n by Newton's method (ascending) and their weights. */
    public static double[][] gaussLegendre(int n) {
        double[] x = new double[n];
        double[] w = new double[n];
        for (int i = 0; i < (n + 1) / 2; i++) {
            double z = Math.cos(Math.PI * (i + 0.75) / (n + 0.5));
            double derivative;
            for (int iteration = 0; ; iteration++) {
                double p0 = 1;
                double p1 = 0;
                for (int k = 1; k <= n; k++) {
                    double p2 = p1;
                    p1 = p0;
                    p0 = ((2 * k - 1) * z * p1 - (k - 1) * p2) / k;
                }
                derivative = n * (z * p0 - p1) / (z * z - 1);
                double previous = z;
                z = previous - p0 / derivative;
                if (Math.abs(z - previous) < 1e-15 || iteration > 100) {
                    break;
                }
            }
            x[i] = -z;
            x[n - 1 - i] = z;
            w[i] = 2 / ((1 - z * z) * derivative * derivative);
            w[n - 1 - i] = w[i];
        }
        return new double[][] {x, w};
    }
}
