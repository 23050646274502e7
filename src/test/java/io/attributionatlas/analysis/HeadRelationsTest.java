package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Head relations keyed by token ids: selection finds what a full sort finds (the k-th largest, the kept entries
 * after a prune, the top rows in order).
 */
class HeadRelationsTest {

    @Test
    void selectionFindsTheKthLargestAsASortDoes() {
        Random random = new Random(2);
        for (int n : new int[] {1, 2, 5, 100, 5_000}) {
            for (int trial = 0; trial < 5; trial++) {
                double[] v = new double[n];
                for (int i = 0; i < n; i++) {
                    v[i] = random.nextInt(trial % 2 == 0 ? 7 : 1_000_000) / 7.0; // ties in half the cases
                }
                double[] sorted = v.clone();
                Arrays.sort(sorted);
                for (int k : new int[] {1, Math.max(1, n / 3), n}) {
                    assertEquals(sorted[n - k], HeadRelations.largest(v.clone(), k), "n " + n + ", k " + k);
                }
            }
        }
    }

    @Test
    void pruningKeepsTheLargestSumsAndTopListsThemInOrder() {
        int n = 100; // 10,000 distinct pairs: more than the cap
        long[] keys = new long[n * n];
        float[] values = new float[n * n];
        Random random = new Random(9);
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                keys[i * n + j] = ((long) i << 32) | ((long) j << 3) | HeadRelations.Kind.OTHER.ordinal();
                values[i * n + j] = (float) random.nextGaussian();
            }
        }
        HeadRelations relations = new HeadRelations(1);
        relations.add(0, keys, values);
        List<HeadRelations.Relation> kept = relations.top(0, Integer.MAX_VALUE);
        assertEquals(HeadRelations.KEEP, kept.size(), "pruned to the kept size");
        // A full sort of every pair by |sum| (ties by key) gives the same entries, in the same order.
        List<long[]> all = new ArrayList<>();
        for (int i = 0; i < n * n; i++) {
            all.add(new long[] {keys[i], Float.floatToIntBits(values[i])});
        }
        all.sort(Comparator.<long[]>comparingDouble(e -> -Math.abs(Float.intBitsToFloat((int) e[1])))
                .thenComparingLong(e -> e[0]));
        for (int r = 0; r < HeadRelations.KEEP; r++) {
            assertEquals(Float.intBitsToFloat((int) all.get(r)[1]), kept.get(r).sum(), 0.0, "rank " + r);
            assertEquals(1, kept.get(r).count());
            assertEquals("other", kept.get(r).kind());
        }
        List<HeadRelations.Relation> top = relations.top(0, 20);
        assertEquals(kept.subList(0, 20), top, "the top 20 by selection");
    }
}
