package io.attributionatlas.attribution.sweep;

import java.util.ArrayList;
import java.util.List;

/**
 * The rows one (sample, target) contributes to the sweep, ascending in α: the points integrated gradients
 * uses, the points conductance integrates over (the same ones, except under Captum's rule) and the end points
 * α = 0 (baseline) and α = 1 (input), merged where they coincide.
 *
 * @param alphas ascending interpolation coefficients
 * @param igWeights integrated-gradients weight of each row (0 for rows that are only end points)
 * @param inChain whether a row is one of the points conductance integrates over
 * @param pointsIg the number of points integrated gradients uses
 * @param pointsConductance the number of points conductance uses
 */
public record SweepPoints(double[] alphas, double[] igWeights, boolean[] inChain, int pointsIg,
        int pointsConductance) {

    public static SweepPoints of(PathPoints method, boolean endPointsInChain) {
        return of(method, method, endPointsInChain);
    }

    /** Integrated gradients on {@code ig}'s points and weights, conductance on {@code chain}'s points. */
    public static SweepPoints of(PathPoints ig, PathPoints chain, boolean endPointsInChain) {
        List<double[]> rows = new ArrayList<>(); // {alpha, weight, inChain}
        for (int i = 0; i < chain.size(); i++) {
            rows.add(new double[] {chain.alphas()[i], 0, 1});
        }
        for (int i = 0; i < ig.size(); i++) {
            double alpha = ig.alphas()[i];
            double[] same = rows.stream().filter(r -> r[0] == alpha).findFirst().orElse(null);
            if (same != null) {
                same[1] = ig.weights()[i];
            } else {
                rows.add(new double[] {alpha, ig.weights()[i], 0});
            }
        }
        for (double end : new double[] {0, 1}) {
            boolean present = rows.stream().anyMatch(r -> r[0] == end);
            if (present) {
                continue;
            }
            rows.add(new double[] {end, 0, endPointsInChain ? 1 : 0});
        }
        rows.sort((a, b) -> Double.compare(a[0], b[0]));
        double[] alphas = rows.stream().mapToDouble(r -> r[0]).toArray();
        double[] weights = rows.stream().mapToDouble(r -> r[1]).toArray();
        boolean[] inChain = new boolean[rows.size()];
        for (int i = 0; i < inChain.length; i++) {
            inChain[i] = rows.get(i)[2] != 0;
        }
        int chainCount = (int) rows.stream().filter(r -> r[2] != 0).count();
        return new SweepPoints(alphas, weights, inChain, ig.size(), chainCount);
    }

    public int size() {
        return alphas.length;
    }
}
