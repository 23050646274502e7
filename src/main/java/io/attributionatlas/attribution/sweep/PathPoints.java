package io.attributionatlas.attribution.sweep;

/** Interpolation coefficients α_k (ascending) and integration weights w_k of one method and step count. */
public record PathPoints(double[] alphas, double[] weights) {

    public int size() {
        return alphas.length;
    }
}
