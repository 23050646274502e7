package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.method.KernelShap;
import io.attributionatlas.attribution.method.Lime;
import io.attributionatlas.attribution.method.SurrogateModel;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.apache.commons.math3.linear.Array2DRowRealMatrix;
import org.apache.commons.math3.linear.ArrayRealVector;
import org.apache.commons.math3.linear.EigenDecomposition;
import org.apache.commons.math3.linear.LUDecomposition;
import org.apache.commons.math3.linear.RealMatrix;
import org.apache.commons.math3.linear.RealVector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * KernelSHAP and LIME against Captum's code ({@code kernel_shap.py}, {@code lime.py}) and scikit-learn's
 * {@code LinearRegression}: the samples in Captum's order with Captum's kernel weights and size distribution; the
 * fit equal to a direct computation of scikit-learn's weighted least squares on the same masks; and KernelSHAP's
 * efficiency (the scores add up to F(x) − F(baseline)) on the real model and on every golden family.
 */
class SurrogateMethodsTest {

    @Test
    void kernelShapSamplesAreCaptumsEndPointsThenShapleyKernelCoalitions() {
        int m = 7;
        int draws = 200_000;
        SurrogateModel.Samples s = KernelShap.samples(m, draws + 2, 11);
        assertEquals(draws + 2, s.kept().size());
        for (int w = 0; w < m; w++) {
            assertTrue(s.kept().get(0)[w], "the first sample is the input: every word kept");
            assertFalse(s.kept().get(1)[w], "the second is the baseline: no word kept");
        }
        assertEquals(KernelShap.END_POINT_WEIGHT, s.weights()[0]);
        assertEquals(KernelShap.END_POINT_WEIGHT, s.weights()[1]);
        assertEquals(1e6, KernelShap.END_POINT_WEIGHT, "Captum's inf_weight");
        long[] sizes = new long[m + 1];
        long[] chosen = new long[m];
        for (int i = 2; i < s.kept().size(); i++) {
            assertEquals(1.0, s.weights()[i], "coalitions weigh 1");
            int k = 0;
            for (int w = 0; w < m; w++) {
                if (s.kept().get(i)[w]) {
                    k++;
                    chosen[w]++;
                }
            }
            sizes[k]++;
        }
        assertEquals(0, sizes[0], "no empty coalition after the end points");
        assertEquals(0, sizes[m], "no full coalition after the end points");
        // Captum: probs[k] = (M − 1) / (k (M − k)) for k = 1 … M − 1, normalised by Categorical.
        double total = 0;
        for (int k = 1; k < m; k++) {
            total += (m - 1.0) / (k * (m - k));
        }
        double expectedWordShare = 0;
        for (int k = 1; k < m; k++) {
            double p = (m - 1.0) / (k * (m - k)) / total;
            double standardError = Math.sqrt(p * (1 - p) / draws);
            assertEquals(p, sizes[k] / (double) draws, 5 * standardError, "share of coalitions of size " + k);
            expectedWordShare += p * k / m;
        }
        for (int w = 0; w < m; w++) {
            assertEquals(expectedWordShare, chosen[w] / (double) draws, 0.005, "word " + w + " drawn uniformly");
        }
        // Fewer samples than the end points: Captum's generator order, cut.
        assertEquals(1, KernelShap.samples(m, 1, 11).kept().size());
        assertEquals(2, KernelShap.samples(1, 25, 11).kept().size(), "one word: only the end points");
    }

    @Test
    void limeSamplesAreBernoulliHalfWithTheExponentialCosineKernel() {
        int m = 9;
        SurrogateModel.Samples s = Lime.samples(m, 20_000, 5);
        long kept = 0;
        for (int i = 0; i < s.kept().size(); i++) {
            int k = 0;
            for (boolean b : s.kept().get(i)) {
                k += b ? 1 : 0;
            }
            kept += k;
            // exp(−d² / 2), d = 1 − cos(z, 1) = 1 − k / (√k √M); the empty sample is at distance 1.
            double cosine = k == 0 ? 0 : k / (Math.sqrt(k) * Math.sqrt(m));
            assertEquals(Math.exp(-(1 - cosine) * (1 - cosine) / 2), s.weights()[i], 1e-15);
        }
        assertEquals(0.5, kept / (20_000.0 * m), 0.005, "each word kept with probability ½");
        assertEquals(25, Lime.DEFAULT_SAMPLES, "Captum's Lime.attribute default");
    }

    /** Masks of both methods, under- and over-determined, with outputs of a nonlinear function of the words. */
    static Stream<Object[]> fits() {
        return Stream.of(new Object[] {"kernel_shap 6 words", KernelShap.samples(6, 25, 3)},
                new Object[] {"kernel_shap 8 words, 80 samples", KernelShap.samples(8, 80, 9)},
                new Object[] {"kernel_shap 40 words", KernelShap.samples(40, 25, 4)},
                new Object[] {"kernel_shap 23 words", KernelShap.samples(23, 25, 5)},
                new Object[] {"lime 6 words", Lime.samples(6, 25, 6)},
                new Object[] {"lime 10 words, 60 samples", Lime.samples(10, 60, 8)},
                new Object[] {"lime 40 words", Lime.samples(40, 25, 7)});
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fits")
    void theFitIsScikitLearnsWeightedLinearRegression(String name, SurrogateModel.Samples s) {
        List<boolean[]> z = s.kept();
        int m = z.get(0).length;
        Random random = new Random(name.hashCode());
        double[] effect = random.doubles(m, -1, 1).toArray();
        double[] y = new double[z.size()];
        for (int i = 0; i < y.length; i++) {
            double linear = 0.3;
            for (int j = 0; j < m; j++) {
                linear += z.get(i)[j] ? effect[j] : 0;
            }
            boolean pair = z.get(i)[0] && z.get(i)[1];
            y[i] = Math.tanh(linear) + (pair ? 0.7 : 0); // not linear: the fit has residuals
        }
        double[] fit = SurrogateModel.fit(z, y, s.weights());
        double[] direct = scikitLearn(z, y, s.weights());
        double scale = 0;
        double difference = 0;
        for (int j = 0; j < m; j++) {
            scale = Math.max(scale, Math.abs(direct[j]));
            difference = Math.max(difference, Math.abs(fit[j] - direct[j]));
        }
        assertTrue(difference <= 1e-6 * scale, name + ": largest difference " + difference + " of " + scale);
        if (name.startsWith("kernel_shap")) {
            double sum = 0;
            for (double c : fit) {
                sum += c;
            }
            // Heavy end points, not exact constraints: the other samples' residuals pull at them by about 1e-6.
            assertEquals(y[0] - y[1], sum, 1e-4 * Math.abs(y[0] - y[1]), name + ": efficiency");
        }
    }

    /**
     * scikit-learn's {@code LinearRegression().fit(z, y, sample_weight=w).coef_}, computed directly, without a
     * singular value decomposition. Repeated samples (the Shapley kernel draws many one-word coalitions) are one
     * sample with their weights summed, which leaves the weighted squares unchanged. With more distinct samples
     * than words + 1 and full rank the solution is unique: the weighted normal equations of y ≈ b + z·c, with
     * the intercept as a column, solved by LU. Otherwise scikit-learn's is the least-squares c of least norm
     * after centring at the weighted means: A⁺ r = G⁺ Aᵀ r with A = √w (z − z̄), r = √w (y − ȳ) and G = AᵀA, G⁺
     * from G's eigenvectors whose eigenvalues are not zero (the test checks that zero and non-zero ones are far
     * apart, so the rank is not in doubt).
     */
    private static double[] scikitLearn(List<boolean[]> z, double[] y, double[] w) {
        int m = z.get(0).length;
        java.util.Map<String, Integer> index = new java.util.LinkedHashMap<>();
        List<double[]> rows = new ArrayList<>();
        List<Double> targets = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        for (int i = 0; i < z.size(); i++) {
            String key = java.util.Arrays.toString(z.get(i));
            Integer at = index.get(key);
            if (at == null) {
                index.put(key, rows.size());
                double[] row = new double[m];
                for (int j = 0; j < m; j++) {
                    row[j] = z.get(i)[j] ? 1 : 0;
                }
                rows.add(row);
                targets.add(y[i]);
                weights.add(w[i]);
            } else {
                assertEquals(targets.get(at), y[i], "a repeated sample has one output");
                weights.set(at, weights.get(at) + w[i]);
            }
        }
        int n = rows.size();
        if (n > m + 1) {
            RealMatrix gram = new Array2DRowRealMatrix(m + 1, m + 1);
            RealVector right = new ArrayRealVector(m + 1);
            for (int i = 0; i < n; i++) {
                double[] row = new double[m + 1];
                row[0] = 1;
                System.arraycopy(rows.get(i), 0, row, 1, m);
                for (int a = 0; a <= m; a++) {
                    right.addToEntry(a, weights.get(i) * row[a] * targets.get(i));
                    for (int b = 0; b <= m; b++) {
                        gram.addToEntry(a, b, weights.get(i) * row[a] * row[b]);
                    }
                }
            }
            LUDecomposition lu = new LUDecomposition(gram);
            if (lu.getSolver().isNonSingular()) {
                return java.util.Arrays.copyOfRange(lu.getSolver().solve(right).toArray(), 1, m + 1);
            }
        }
        double total = weights.stream().mapToDouble(Double::doubleValue).sum();
        double yMean = 0;
        double[] zMean = new double[m];
        for (int i = 0; i < n; i++) {
            yMean += weights.get(i) * targets.get(i) / total;
            for (int j = 0; j < m; j++) {
                zMean[j] += weights.get(i) * rows.get(i)[j] / total;
            }
        }
        RealMatrix a = new Array2DRowRealMatrix(n, m);
        RealVector r = new ArrayRealVector(n);
        for (int i = 0; i < n; i++) {
            double s = Math.sqrt(weights.get(i));
            for (int j = 0; j < m; j++) {
                a.setEntry(i, j, s * (rows.get(i)[j] - zMean[j]));
            }
            r.setEntry(i, s * (targets.get(i) - yMean));
        }
        EigenDecomposition eigen = new EigenDecomposition(a.transpose().multiply(a));
        double[] values = eigen.getRealEigenvalues();
        double largest = java.util.Arrays.stream(values).max().orElseThrow();
        RealVector projected = a.transpose().operate(r);
        RealVector c = new ArrayRealVector(m);
        double smallestKept = Double.POSITIVE_INFINITY;
        double largestDropped = 0;
        for (int k = 0; k < m; k++) {
            if (values[k] > 1e-12 * largest) {
                RealVector v = eigen.getEigenvector(k);
                c = c.add(v.mapMultiply(v.dotProduct(projected) / values[k]));
                smallestKept = Math.min(smallestKept, values[k]);
            } else {
                largestDropped = Math.max(largestDropped, Math.abs(values[k]));
            }
        }
        assertTrue(smallestKept > 1e6 * largestDropped, "rank gap: " + smallestKept + " vs " + largestDropped);
        return c.toArray();
    }

    static Stream<Path> models() throws Exception {
        List<Path> models = new ArrayList<>(List.of(Fixtures.realModel()));
        GpuEqualsCpuTest.modelDirectories().forEach(models::add);
        return models.stream();
    }

    /**
     * KernelSHAP's efficiency at Captum's default 25 samples: Σ scores = F(x) − F(baseline) within 1e-3
     * relative, on 12 SST-2 sentences with the real model and 4 texts (pairs for QA) on each of the 14 golden
     * models: 88 targets.
     */
    @ParameterizedTest
    @MethodSource("models")
    void kernelShapAddsUpToTheChangeFromTheBaseline(Path model) throws Exception {
        List<TextInput> texts = new ArrayList<>();
        if (model.equals(Fixtures.realModel())) {
            List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"));
            for (String line : lines.subList(1, 13)) {
                texts.add(new TextInput("s" + texts.size(), line.substring(0, line.lastIndexOf(',')).replace("\"", ""),
                        null));
            }
        } else {
            texts.add(new TextInput("a", "the movie was good", "who was good ?"));
            texts.add(new TextInput("b", "a bad plot , bad acting and a very long story", "what was bad ?"));
            texts.add(new TextInput("c", "who won the game", "the team won"));
            texts.add(new TextInput("d", "fine", "is it fine ?"));
        }
        AttributionOptions options = AttributionOptions.defaults().nSteps(2)
                .analyses(Set.of(Analysis.INTEGRATED_GRADIENTS)).methods("kernel_shap");
        int targets = 0;
        try (Predictor p = Predictor.open(model, null, Device.cpu()); Explainer e = new Explainer(p, options)) {
            boolean pairs = p.model().config().task() == Task.QUESTION_ANSWERING;
            List<SampleAttribution> results = e.attribute(texts.stream().map(t -> e.sample(pairs ? t
                    : new TextInput(t.id(), t.text(), null), null)).toList());
            for (SampleAttribution s : results) {
                EncodedText text = s.sample().encoding();
                int words = MethodScores.wordCount(text.words());
                for (TargetAttribution t : s.targets()) {
                    MethodScores shap = t.methods().get("kernel_shap");
                    assertEquals(words == 1 ? 2 : KernelShap.DEFAULT_SAMPLES, shap.forwardPasses());
                    double sum = 0;
                    for (float v : shap.wordAttributions()) {
                        sum += v;
                    }
                    double change = t.fInput() - t.fBaseline();
                    String where = model.getFileName() + " " + s.sample().input().id() + " " + t.name();
                    assertTrue(Math.abs(change) > 1e-4, where + ": F(x) − F(baseline) too small to test: " + change);
                    // F(x′) comes from the sweep's pass and KernelSHAP's baseline sample from a pass of its own, each
                    // in float32 with its own batch shape: they agree to about 1e-6 of F, the floor added here.
                    double floatNoise = 1e-5 * Math.max(Math.abs(t.fInput()), Math.abs(t.fBaseline()));
                    assertEquals(change, sum, 1e-3 * Math.abs(change) + floatNoise, where + ": efficiency");
                    targets++;
                }
            }
        }
        assertTrue(targets >= texts.size());
    }

    @Test
    void aZeroBaselineIsRefusedForMethodsThatReplaceTokens() {
        AttributionOptions zero = AttributionOptions.defaults().baseline(Baseline.parse("zero"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> zero.methods("integrated_gradients,kernel_shap,lime").faithfulness(true)
                        .validate());
        assertTrue(e.getMessage().contains("as kernel_shap, lime, faithfulness need"), e.getMessage());
        // Gradient methods take a zero embedding as it is.
        AttributionOptions.defaults().baseline(Baseline.parse("zero")).methods(AttributionMethods.parseList(
                "integrated_gradients,gradient_shap")).validate();
    }
}
