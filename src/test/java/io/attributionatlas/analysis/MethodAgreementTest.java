package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Method agreement (ranks once per method, Kendall's τ-b by merge sort, primitive arrays) equals its first host
 * implementation ({@link MethodAgreementReference}, straight from the definitions) on every metric: random
 * scores with many ties, ±0, constants and lengths 0 to 600.
 */
class MethodAgreementTest {

    @Test
    void everyMetricEqualsTheReference() {
        Random random = new Random(3);
        int cases = 0;
        for (int n : new int[] {0, 1, 2, 3, 4, 5, 6, 7, 10, 25, 64, 200, 600}) {
            for (int trial = 0; trial < 12; trial++) {
                // Coarse values make ties in each method and between them; some cases are constant.
                int levels = trial % 4 == 0 ? 1 : 2 + random.nextInt(trial % 2 == 0 ? 5 : 1000);
                double[] a = new double[n];
                double[] b = new double[n];
                for (int i = 0; i < n; i++) {
                    a[i] = (random.nextInt(levels) - levels / 2) * 0.25;
                    b[i] = trial % 3 == 0 ? a[i] * 2 - (random.nextBoolean() ? 0.25 : 0)
                            : (random.nextInt(levels) - levels / 2) * 0.5;
                    if (a[i] == 0 && random.nextBoolean()) {
                        a[i] = -0.0;
                    }
                }
                double[] fast = MethodAgreement.compare(MethodAgreement.rank(a), MethodAgreement.rank(b));
                Map<String, Double> reference = MethodAgreementReference.compare(zeroed(a), zeroed(b));
                assertEquals(MethodAgreement.METRICS.length, fast.length);
                for (int m = 0; m < fast.length; m++) {
                    String metric = MethodAgreement.METRICS[m];
                    double expected = reference.get(metric);
                    String where = metric + " at n = " + n + ", trial " + trial;
                    if (Double.isNaN(expected)) {
                        assertTrue(Double.isNaN(fast[m]), where + ": NaN expected, got " + fast[m]);
                    } else {
                        assertEquals(expected, fast[m], 1e-12, where);
                    }
                }
                cases++;
            }
        }
        assertEquals(13 * 12, cases);
    }

    @Test
    void kendallsTauBOnKnownValues() {
        // Perfect agreement, perfect disagreement, and a hand-counted case with ties: a = (1, 2, 2, 3), b = (1, 3, 2,
        // 2): 6 pairs, 1 tied in a, 1 tied in b, concordant 3, discordant 1 → (3 − 1) / √(5 · 5) = 0.4.
        assertEquals(1, MethodAgreement.kendallTauB(new int[] {0, 1, 2, 3}, new int[] {0, 1, 2, 3}), 1e-15);
        assertEquals(-1, MethodAgreement.kendallTauB(new int[] {0, 1, 2, 3}, new int[] {3, 2, 1, 0}), 1e-15);
        assertEquals(0.4, MethodAgreement.kendallTauB(new int[] {0, 1, 1, 2}, new int[] {0, 2, 1, 1}), 1e-15);
        assertTrue(Double.isNaN(MethodAgreement.kendallTauB(new int[] {0, 0, 0}, new int[] {0, 1, 2})), "constant");
    }

    /** The reference ties −0 with +0 only through ==; the scores it is given here have no −0. */
    private static double[] zeroed(double[] v) {
        double[] out = v.clone();
        for (int i = 0; i < out.length; i++) {
            out[i] += 0.0;
        }
        return out;
    }
}
