package io.attributionatlas.analysis;

import java.io.Serializable;

/**
 * Sufficient statistics of a Pearson correlation (n, Σx, Σy, Σx², Σy², Σxy), and of an average of
 * per-sample correlations through Fisher's z (Σ atanh r, count). Both merge exactly.
 */
public final class Correlation implements Serializable {

    private static final long serialVersionUID = 1L;

    long n;
    double sx;
    double sy;
    double sxx;
    double syy;
    double sxy;
    long samples;
    double fisherZ;

    public void add(double x, double y) {
        n++;
        sx += x;
        sy += y;
        sxx += x * x;
        syy += y * y;
        sxy += x * y;
    }

    /**
     * Adds {@code count} pairs given by their moments: means, centred sums of squares and the centred co-moment
     * (the form a device reduction gives without cancellation).
     */
    public void addMoments(long count, double meanX, double meanY, double squaresX, double squaresY, double coMoment) {
        n += count;
        sx += count * meanX;
        sy += count * meanY;
        sxx += squaresX + count * meanX * meanX;
        syy += squaresY + count * meanY * meanY;
        sxy += coMoment + count * meanX * meanY;
    }

    /** Pearson r from centred moments; NaN when a side has no variance or there are fewer than 2 pairs. */
    public static double ofMoments(long count, double squaresX, double squaresY, double coMoment) {
        return count < 2 || squaresX <= 0 || squaresY <= 0 ? Double.NaN : coMoment / Math.sqrt(squaresX * squaresY);
    }

    /** Adds one sample's own correlation (skipped when undefined). */
    public void addSample(double r) {
        if (Double.isNaN(r)) {
            return;
        }
        double clipped = Math.max(-0.999999, Math.min(0.999999, r));
        fisherZ += 0.5 * Math.log((1 + clipped) / (1 - clipped));
        samples++;
    }

    public void merge(Correlation o) {
        n += o.n;
        sx += o.sx;
        sy += o.sy;
        sxx += o.sxx;
        syy += o.syy;
        sxy += o.sxy;
        samples += o.samples;
        fisherZ += o.fisherZ;
    }

    public long count() {
        return n;
    }

    public long sampleCount() {
        return samples;
    }

    /** Pearson r over every pooled pair; NaN when a side has no variance. */
    public double pooled() {
        return pearson(n, sx, sy, sxx, syy, sxy);
    }

    /** tanh of the mean Fisher z of the per-sample correlations. */
    public double sampleMean() {
        return samples == 0 ? Double.NaN : Math.tanh(fisherZ / samples);
    }

    static double pearson(long n, double sx, double sy, double sxx, double syy, double sxy) {
        if (n < 2) {
            return Double.NaN;
        }
        double cov = sxy - sx * sy / n;
        double vx = sxx - sx * sx / n;
        double vy = syy - sy * sy / n;
        return vx <= 0 || vy <= 0 ? Double.NaN : cov / Math.sqrt(vx * vy);
    }

    /** Pearson r of two equally long arrays. */
    public static double of(float[] x, float[] y) {
        Correlation c = new Correlation();
        for (int i = 0; i < x.length; i++) {
            c.add(x[i], y[i]);
        }
        return c.pooled();
    }
}
