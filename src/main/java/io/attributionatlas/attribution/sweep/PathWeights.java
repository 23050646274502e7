package io.attributionatlas.attribution.sweep;

import java.util.ArrayList;
import java.util.List;

/**
 * Conductance along one item's rows as one bilinear form: C = Σ_ab W_ab g_a ⊙ y_b over the item's rows a, b
 * (ascending α), W the sum of every interval's stencil weights ({@link ConductanceRule#intervals}). W is the same
 * for every item, so a chunk of rows needs only W's diagonals: row a's coefficient at offset o is W[a][a + o],
 * and |o| never exceeds {@link #band}, the number of earlier rows a chunk needs from the one before.
 *
 * @param weights W over the item's rows (zero on rows that are not chain points)
 * @param offsets the diagonals o of W that hold a non-zero entry, ascending
 * @param band the largest |o|: how many of an item's last rows the next chunk needs (its carry)
 */
public record PathWeights(double[][] weights, int[] offsets, int band) {

    public static PathWeights of(SweepPoints points, ConductanceRule rule) {
        int rows = points.size();
        List<Integer> chain = new ArrayList<>();
        for (int k = 0; k < rows; k++) {
            if (points.inChain()[k]) {
                chain.add(k);
            }
        }
        double[] alphas = chain.stream().mapToDouble(k -> points.alphas()[k]).toArray();
        double[][] w = new double[rows][rows];
        List<int[]> stencils = new ArrayList<>();
        List<double[][]> stencilWeights = new ArrayList<>();
        for (int c = 0; c < alphas.length; c++) {
            rule.intervals(c, c, alphas, alphas.length, stencils, stencilWeights);
        }
        for (int s = 0; s < stencils.size(); s++) {
            int[] stencil = stencils.get(s);
            for (int a = 0; a < stencil.length; a++) {
                for (int b = 0; b < stencil.length; b++) {
                    w[chain.get(stencil[a])][chain.get(stencil[b])] += stencilWeights.get(s)[a][b];
                }
            }
        }
        int band = 0;
        boolean[] used = new boolean[2 * rows + 1];
        for (int a = 0; a < rows; a++) {
            for (int b = 0; b < rows; b++) {
                if (w[a][b] != 0) {
                    used[b - a + rows] = true;
                    band = Math.max(band, Math.abs(b - a));
                }
            }
        }
        List<Integer> offsets = new ArrayList<>();
        for (int o = -rows; o <= rows; o++) {
            if (used[o + rows]) {
                offsets.add(o);
            }
        }
        return new PathWeights(w, offsets.stream().mapToInt(Integer::intValue).toArray(), band);
    }

    /** The indices of {@link #offsets}, the main diagonal's (offset 0) first when W has one. */
    public int[] diagonalFirst() {
        int[] order = new int[offsets.length];
        int next = 0;
        for (int k = 0; k < offsets.length; k++) {
            if (offsets[k] == 0) {
                order[next++] = k;
            }
        }
        for (int k = 0; k < offsets.length; k++) {
            if (offsets[k] != 0) {
                order[next++] = k;
            }
        }
        return order;
    }

    /** W[a][b], 0 outside the item's rows. */
    public double at(int a, int b) {
        return a < 0 || b < 0 || a >= weights.length || b >= weights.length ? 0 : weights[a][b];
    }
}
