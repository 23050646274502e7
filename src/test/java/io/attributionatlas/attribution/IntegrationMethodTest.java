package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import io.attributionatlas.attribution.sweep.SweepPoints;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import io.attributionatlas.attribution.sweep.PathPoints;
import io.attributionatlas.attribution.sweep.IntegrationMethod;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

/** Nodes and weights equal Captum's approximation_methods (values computed with numpy / torch). */
class IntegrationMethodTest {

    @Test
    void gaussLegendreMatchesNumpyLeggauss() {
        PathPoints two = IntegrationMethod.GAUSS_LEGENDRE.points(2);
        double r = 1 / Math.sqrt(3);
        assertArrayEquals(new double[] {0.5 * (1 - r), 0.5 * (1 + r)}, two.alphas(), 1e-15);
        assertArrayEquals(new double[] {0.5, 0.5}, two.weights(), 1e-15);
        PathPoints five = IntegrationMethod.GAUSS_LEGENDRE.points(5);
        // numpy.polynomial.legendre.leggauss(5), mapped to [0, 1]
        assertArrayEquals(new double[] {0.04691007703066802, 0.23076534494715845, 0.5, 0.7692346550528415,
            0.953089922969332}, five.alphas(), 1e-14);
        assertArrayEquals(new double[] {0.11846344252809454, 0.23931433524968324, 0.28444444444444444,
            0.23931433524968324, 0.11846344252809454}, five.weights(), 1e-14);
        for (int n : new int[] {16, 50, 64}) {
            PathPoints p = IntegrationMethod.GAUSS_LEGENDRE.points(n);
            assertEquals(1.0, Arrays.stream(p.weights()).sum(), 1e-13);
            // Exact for polynomials of degree 2n−1: ∫₀¹ α^5 dα = 1/6.
            double integral = 0;
            for (int k = 0; k < n; k++) {
                integral += p.weights()[k] * Math.pow(p.alphas()[k], 5);
            }
            assertEquals(1.0 / 6, integral, 1e-13);
        }
    }

    @Test
    void riemannRulesMatchCaptum() {
        assertArrayEquals(new double[] {0, 0.25, 0.5, 0.75}, IntegrationMethod.RIEMANN_LEFT.points(4).alphas(), 1e-7);
        assertArrayEquals(new double[] {0.25, 0.5, 0.75, 1}, IntegrationMethod.RIEMANN_RIGHT.points(4).alphas(), 1e-7);
        assertArrayEquals(new double[] {0.125, 0.375, 0.625, 0.875}, IntegrationMethod.RIEMANN_MIDDLE.points(4).alphas(),
                1e-7);
        PathPoints trapezoid = IntegrationMethod.RIEMANN_TRAPEZOID.points(4);
        assertArrayEquals(new double[] {0, 1.0 / 3, 2.0 / 3, 1}, trapezoid.alphas(), 1e-7);
        // Captum's quirk: weights 1/n with halved ends, summing to (n − 1)/n.
        assertArrayEquals(new double[] {0.125, 0.25, 0.25, 0.125}, trapezoid.weights(), 1e-15);
        assertArrayEquals(new double[] {0.25, 0.25, 0.25, 0.25}, IntegrationMethod.RIEMANN_LEFT.points(4).weights());
        // torch.linspace(0, 1, 50) in float32: node 17 is 17 * (1/49) rounded as float32 arithmetic.
        float step = 1f / 49;
        assertEquals(step * 17, IntegrationMethod.RIEMANN_TRAPEZOID.points(50).alphas()[17]);
        assertEquals(1f - step * 10, IntegrationMethod.RIEMANN_TRAPEZOID.points(50).alphas()[39]);
    }

    @Test
    void sweepPointsAddEndPointsOnce() {
        SweepPoints trapezoid = AttributionOptions.defaults().nSteps(4).sweepPoints();
        assertEquals(6, trapezoid.size());
        assertEquals(0, trapezoid.alphas()[0]);
        assertEquals(1, trapezoid.alphas()[5]);
        assertEquals(4, trapezoid.pointsIg());
        assertEquals(6, trapezoid.pointsConductance());
        assertEquals(0, trapezoid.igWeights()[0]);
        SweepPoints captum = AttributionOptions.defaults().nSteps(4).conductance(ConductanceRule.CAPTUM).sweepPoints();
        assertEquals(11, captum.size(), "IG's 4 Gauss-Legendre points, conductance's 5 and both end points");
        assertEquals(4, captum.pointsIg(), "Captum's LayerIntegratedGradients at n_steps = 4");
        assertEquals(5, captum.pointsConductance(), "Captum's LayerConductance at n_steps = 4");
        assertEquals(false, captum.inChain()[0]);
        assertEquals(false, captum.inChain()[10]);
        double igWeights = 0;
        for (double w : captum.igWeights()) {
            igWeights += w;
        }
        assertEquals(1, igWeights, 1e-12, "IG's weights are its own 4 points' weights");
        SweepPoints shared = AttributionOptions.defaults().method(IntegrationMethod.RIEMANN_LEFT).nSteps(4)
                .conductance(ConductanceRule.CAPTUM).sweepPoints();
        assertEquals(9, shared.size(), "riemann_left at 4 and 5 points share α = 0; α = 1 is added");
        SweepPoints merged = AttributionOptions.defaults().method(IntegrationMethod.RIEMANN_TRAPEZOID).nSteps(4)
                .sweepPoints();
        assertEquals(4, merged.size(), "riemann_trapezoid already has both end points");
        assertThrows(IllegalArgumentException.class, () -> IntegrationMethod.parse("simpson"));
    }

    @Test
    void quadraticIntervalWeightsIntegrateCubicsExactly() {
        double[] t = {0.1, 0.35, 0.5};
        double a = 0.35;
        double b = 0.5;
        double[][] w = ConductanceRule.quadraticWeights(t, a, b);
        // g(α) = 1 + α, y(α) = α²: ∫ g y' dα = ∫ (1 + α) 2α dα = [α² + 2α³/3] from a to b.
        double exact = (b * b + 2 * b * b * b / 3) - (a * a + 2 * a * a * a / 3);
        double quadrature = 0;
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                quadrature += w[i][j] * (1 + t[i]) * (t[j] * t[j]);
            }
            double row = w[i][0] + w[i][1] + w[i][2];
            assertEquals(0, row, 1e-12, "a constant y contributes nothing");
        }
        assertEquals(exact, quadrature, 1e-12);
        assertEquals(ConductanceRule.QUADRATIC, ConductanceRule.parse("quadratic"));
    }
}
