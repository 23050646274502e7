package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** Axioms, the naive oracle and a sentiment sanity check on the real fine-tuned model. */
class RealModelAttributionTest {

    static Predictor predictor;

    @BeforeAll
    static void load() {
        predictor = Predictor.open(Fixtures.realModel(), null, Device.cpu());
    }

    @AfterAll
    static void close() {
        predictor.close();
    }

    static List<SampleAttribution> explain(AttributionOptions options, String... texts) {
        try (Explainer explainer = new Explainer(predictor, options)) {
            List<Sample> samples = new ArrayList<>();
            for (String t : texts) {
                samples.add(explainer.sample(TextInput.of(t), null));
            }
            return explainer.attribute(samples);
        }
    }

    /** Largest relative completeness error over layers: |Σ C_l − (F(x) − F(x'))| / |F(x) − F(x')|. */
    static double worstLayerError(TargetAttribution t) {
        double change = t.fInput() - t.fBaseline();
        double worst = 0;
        for (double total : t.layerTotal()) {
            worst = Math.max(worst, Math.abs(total - change) / Math.abs(change));
        }
        return worst;
    }

    static final String[] SENTENCES = {"A gorgeous, witty, seductive movie.", "The acting is bad and the plot is worse.",
        "It's a charming and often affecting journey."};

    @Test
    void integratedGradientsIsCompleteAndConductanceConvergesQuadratically() {
        AttributionOptions conductance = AttributionOptions.defaults().conductance(ConductanceRule.TRAPEZOID)
                .analyses(Set.of(Analysis.INTEGRATED_GRADIENTS, Analysis.LAYER_CONDUCTANCE));
        double[] errorAt = new double[3];
        int[] steps = {16, 64, 256};
        for (int k = 0; k < steps.length; k++) {
            for (SampleAttribution s : explain(conductance.nSteps(steps[k]), SENTENCES)) {
                TargetAttribution t = s.targets().get(0);
                double change = t.fInput() - t.fBaseline();
                if (steps[k] >= 64) {
                    assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(change), "IG delta " + t.delta() + " vs " + change + " n=" + steps[k] + " ig " + java.util.Arrays.toString(t.igTokenSum()) + " layers " + java.util.Arrays.toString(t.layerTotal()) + " fIn " + t.fInput() + " fBase " + t.fBaseline());
                }
                assertEquals(s.prediction().logits()[s.prediction().labelIndex()], t.fInput(), 1e-4);
                errorAt[k] = Math.max(errorAt[k], worstLayerError(t));
            }
        }
        // Trapezoid on the sweep's points is O(1/n²): 4× the points, ≈16× smaller error.
        assertTrue(errorAt[1] < errorAt[0] / 10, "n=16 error " + errorAt[0] + ", n=64 error " + errorAt[1]);
        assertTrue(errorAt[2] < 5e-3, "every layer complete within 5e-3 at n=256: " + errorAt[2]);
        // The quadratic rule (the default) on the same points is far more accurate than trapezoid: within 5e-3 at
        // n = 64.
        double quadraticAt64 = 0;
        for (SampleAttribution s : explain(AttributionOptions.defaults().nSteps(64).conductance(ConductanceRule.QUADRATIC)
                .analyses(Set.of(Analysis.LAYER_CONDUCTANCE)), SENTENCES)) {
            quadraticAt64 = Math.max(quadraticAt64, worstLayerError(s.targets().get(0)));
        }
        assertTrue(quadraticAt64 < 5e-3 && quadraticAt64 < errorAt[1] / 5, "quadratic at n=64: " + quadraticAt64
                + ", trapezoid " + errorAt[1]);
        // Gauss-Legendre IG is far more accurate than the conductance trapezoid: complete at the default n=50.
        for (SampleAttribution s : explain(AttributionOptions.defaults().analyses(Set.of(
                Analysis.INTEGRATED_GRADIENTS)), SENTENCES)) {
            TargetAttribution t = s.targets().get(0);
            assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(t.fInput() - t.fBaseline()), "IG delta " + t.delta());
            assertEquals(50, s.pointsIg());
        }
    }

    @Test
    void singlePassEqualsNaiveOnTheRealModel() {
        AttributionOptions single = AttributionOptions.defaults().nSteps(8);
        AttributionOptions naive = AttributionOptions.defaults().nSteps(8).strategy(AttributionOptions.Strategy.NAIVE);
        TinyModelAttributionTest.assertSame(explain(single, SENTENCES[0], SENTENCES[1]),
                explain(naive, SENTENCES[0], SENTENCES[1]), 1e-5);
    }

    @Test
    void sentimentWordsAreTopAttributed() {
        record Case(String text, String label, Set<String> words) {
        }
        // SST-2 dev sentences (dev_binary_sent.csv) with unmistakable sentiment words.
        List<Case> cases = List.of(
                new Case("It's a lovely film with lovely performances by Buy and Accorsi.", "POSITIVE", Set.of("lovely")),
                new Case("A gorgeous, witty, seductive movie.", "POSITIVE", Set.of("gorgeous", "witty", "seductive")),
                new Case("The acting, costumes, music, cinematography and sound are all astounding given the "
                        + "production's austere locales.", "POSITIVE", Set.of("astounding")),
                new Case("It's a cookie-cutter movie, a cut-and-paste job.", "NEGATIVE", Set.of("cookie", "cutter", "cut", "paste")),
                new Case("A sometimes tedious film.", "NEGATIVE", Set.of("tedious")),
                new Case("Unfortunately the story and the actors are served with a hack script.", "NEGATIVE",
                        Set.of("unfortunately", "hack")));
        AttributionOptions options = AttributionOptions.defaults().analyses(Set.of(Analysis.INTEGRATED_GRADIENTS));
        List<SampleAttribution> results = explain(options, cases.stream().map(Case::text).toArray(String[]::new));
        for (int c = 0; c < cases.size(); c++) {
            SampleAttribution s = results.get(c);
            assertEquals(cases.get(c).label(), s.prediction().label(), cases.get(c).text());
            List<String> top = topWords(s.sample().encoding(), s.targets().get(0).igTokenSum(), 3);
            assertTrue(top.stream().anyMatch(cases.get(c).words()::contains),
                    cases.get(c).text() + ": top words " + top);
        }
    }

    /** Word-level attribution (sum over a word's pieces), the {@code k} most positive words. */
    static List<String> topWords(io.attributionatlas.model.EncodedText e, float[] attribution, int k) {
        java.util.Map<Integer, StringBuilder> word = new java.util.TreeMap<>();
        java.util.Map<Integer, Double> score = new java.util.HashMap<>();
        for (int i = 0; i < e.length(); i++) {
            int w = e.words()[i];
            if (w >= 0) {
                word.computeIfAbsent(w, x -> new StringBuilder()).append(e.tokens()[i].replace("##", ""));
                score.merge(w, (double) attribution[i], Double::sum);
            }
        }
        return word.keySet().stream().sorted(Comparator.comparingDouble(w -> -score.get(w))).limit(k)
                .map(w -> word.get(w).toString()).toList();
    }
}
