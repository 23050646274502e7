package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import java.util.Comparator;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** The device's exact search equals a brute-force cosine scan in float64, across blocks. */
class CorpusSearchTest {

    private static final int ROWS = 5000;
    private static final int DIMENSION = 48;

    @Test
    void nearestNeighboursEqualABruteForceCosineScan() {
        SplittableRandom random = new SplittableRandom(11);
        float[][] vectors = new float[ROWS][DIMENSION];
        for (int r = 0; r < ROWS; r++) {
            for (int d = 0; d < DIMENSION; d++) {
                vectors[r][d] = (float) (random.nextGaussian() + (r % 7 == 0 ? 2 : 0)); // some clusters
            }
        }
        vectors[17] = vectors[4].clone(); // an exact duplicate (a tie)
        vectors[99] = new float[DIMENSION]; // a zero vector
        float[][] queries = new float[40][];
        for (int i = 0; i < queries.length; i++) {
            queries[i] = i % 2 == 0 ? vectors[i * 97] : vectors[(i * 31) % ROWS].clone();
            if (i % 2 == 1) {
                queries[i][i % DIMENSION] += 0.5f;
            }
        }
        int k = 10;
        try (CorpusSearch search = new CorpusSearch(DIMENSION, Device.cpu(), 777)) { // 7 blocks, the last partial
            for (float[] v : vectors) {
                search.add(v);
            }
            assertEquals(ROWS, search.size());
            CorpusSearch.Neighbours[] found = search.search(queries, k);
            int checked = 0;
            for (int i = 0; i < queries.length; i++) {
                double[] cosines = new double[ROWS];
                for (int r = 0; r < ROWS; r++) {
                    cosines[r] = cosine(queries[i], vectors[r]);
                }
                int[] expected = IntStream.range(0, ROWS).boxed()
                        .sorted(Comparator.<Integer>comparingDouble(r -> -cosines[r]).thenComparing(r -> r))
                        .limit(k + 1).mapToInt(Integer::intValue).toArray();
                assertEquals(k, found[i].rows().length);
                for (int j = 0; j < k; j++) {
                    assertEquals(cosines[expected[j]], found[i].cosines()[j], 1e-5, "query " + i + " rank " + j);
                    assertEquals(cosines[found[i].rows()[j]], found[i].cosines()[j], 1e-5, "query " + i
                            + ": the row's own cosine");
                }
                // the same rows in the same order, unless two of the first k + 1 are within float32's rounding
                boolean nearTies = IntStream.range(1, k + 1)
                        .anyMatch(j -> cosines[expected[j - 1]] - cosines[expected[j]] < 1e-6);
                if (!nearTies) {
                    assertArrayEquals(java.util.Arrays.copyOf(expected, k), found[i].rows(), "query " + i);
                    checked++;
                }
            }
            assertTrue(checked >= 30, checked + " queries without near ties compared row by row");
            // the duplicate pair: the query of row 4 finds 4 and 17, both at cosine 1
            CorpusSearch.Neighbours dup = search.search(new float[][] {vectors[4]}, 2)[0];
            assertEquals(java.util.Set.of(4, 17), java.util.Set.of(dup.rows()[0], dup.rows()[1]));
            assertTrue(dup.cosines()[1] > 1 - 1e-6);
            assertArrayEquals(normalised(vectors[123]), search.vector(123), 1e-6f);
        }
    }

    private static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int d = 0; d < a.length; d++) {
            dot += (double) a[d] * b[d];
            na += (double) a[d] * a[d];
            nb += (double) b[d] * b[d];
        }
        return dot / (Math.max(Math.sqrt(na), 1e-12) * Math.max(Math.sqrt(nb), 1e-12));
    }

    private static float[] normalised(float[] v) {
        double n = 0;
        for (float x : v) {
            n += x * x;
        }
        float[] out = new float[v.length];
        for (int d = 0; d < v.length; d++) {
            out[d] = (float) (v[d] / Math.sqrt(n));
        }
        return out;
    }
}
