package io.attributionatlas.analysis;

import org.apache.commons.math3.distribution.TDistribution;

/**
 * The difference of two groups' means from their counts, means and sample standard deviations (mergeable moments,
 * no per-sample values): Welch's 95% interval (Welch–Satterthwaite degrees of freedom) and Cohen's d with the pooled
 * standard deviation. NaN where a group has fewer than 2 values or both have no spread.
 */
public record Contrast(double difference, double low, double high, double degreesOfFreedom, double cohensD) {

    /** Two-sided 95%. */
    public static final double LEVEL = 0.95;

    public static Contrast welch(long countA, double meanA, double sdA, long countB, double meanB, double sdB) {
        double difference = meanA - meanB;
        if (countA < 2 || countB < 2) {
            return new Contrast(difference, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        }
        double va = sdA * sdA / countA;
        double vb = sdB * sdB / countB;
        double se = Math.sqrt(va + vb);
        double pooled = Math.sqrt(((countA - 1) * sdA * sdA + (countB - 1) * sdB * sdB) / (countA + countB - 2));
        double d = pooled > 0 ? difference / pooled : Double.NaN;
        if (!(se > 0)) {
            return new Contrast(difference, Double.NaN, Double.NaN, Double.NaN, d);
        }
        double df = (va + vb) * (va + vb) / (va * va / (countA - 1) + vb * vb / (countB - 1));
        double t = new TDistribution(null, df).inverseCumulativeProbability(0.5 + LEVEL / 2);
        return new Contrast(difference, difference - t * se, difference + t * se, df, d);
    }
}
