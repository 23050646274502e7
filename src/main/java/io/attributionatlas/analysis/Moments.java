package io.attributionatlas.analysis;

import java.io.Serializable;

/** Count, sum, sum of squares, min and max of a stream of values; merges exactly (associative). */
public final class Moments implements Serializable {

    private static final long serialVersionUID = 1L;

    long count;
    double sum;
    double sumSquares;
    double min = Double.POSITIVE_INFINITY;
    double max = Double.NEGATIVE_INFINITY;

    public void add(double v) {
        count++;
        sum += v;
        sumSquares += v * v;
        min = Math.min(min, v);
        max = Math.max(max, v);
    }

    public void merge(Moments o) {
        count += o.count;
        sum += o.sum;
        sumSquares += o.sumSquares;
        min = Math.min(min, o.min);
        max = Math.max(max, o.max);
    }

    public long count() {
        return count;
    }

    public double mean() {
        return count == 0 ? Double.NaN : sum / count;
    }

    /** Sample standard deviation (n − 1); 0 for a single value. */
    public double std() {
        if (count < 2) {
            return count == 1 ? 0 : Double.NaN;
        }
        double variance = (sumSquares - sum * sum / count) / (count - 1);
        return Math.sqrt(Math.max(0, variance));
    }

    public double min() {
        return min;
    }

    public double max() {
        return max;
    }
}
