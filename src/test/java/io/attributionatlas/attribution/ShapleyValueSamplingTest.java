package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.method.ShapleyValueSampling;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.ToDoubleFunction;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Shapley value sampling as Captum's {@code ShapleyValueSampling} defines it: on a known game, the plan's scores equal
 * a literal transcription of Captum's loop over the same permutations (which evaluates the baseline and the full
 * input in every permutation) and converge to the exact Shapley values; permutations are uniform; and on the real
 * model and every golden family the scores add up to F(x) − F(baseline) exactly, up to float rounding.
 */
class ShapleyValueSamplingTest {

    /** Words a text of {@code m} single-token words (with [CLS] and [SEP]) has. */
    static EncodedText words(int m) {
        int n = m + 2;
        int[] words = new int[n];
        boolean[] special = new boolean[n];
        for (int i = 0; i < n; i++) {
            words[i] = i == 0 || i == n - 1 ? -1 : i - 1;
            special[i] = words[i] < 0;
        }
        String[] tokens = new String[n];
        java.util.Arrays.fill(tokens, "w");
        return new EncodedText(new long[n], new long[n], tokens, special, new int[n], words, false);
    }

    /** A game with interactions: v(S) = Σ a_i + 2·[0 ∈ S ∧ 1 ∈ S] − 1.5·[2 ∈ S ∧ 3 ∈ S ∧ 4 ∈ S], a = 1..m. */
    static double game(boolean[] kept) {
        double v = 0;
        for (int i = 0; i < kept.length; i++) {
            v += kept[i] ? i + 1 : 0;
        }
        v += kept.length > 1 && kept[0] && kept[1] ? 2 : 0;
        v -= kept.length > 4 && kept[2] && kept[3] && kept[4] ? 1.5 : 0;
        return v;
    }

    /** The plan's scores when each copy's F is the game on the words it keeps. */
    static float[] planScores(int m, int permutations, long seed, ToDoubleFunction<boolean[]> v) {
        EncodedText text = words(m);
        PerturbationPlan<MethodScores> plan = ShapleyValueSampling.plan(text, permutations, seed);
        double[] f = new double[plan.masks().size()];
        for (int c = 0; c < f.length; c++) {
            boolean[] kept = new boolean[m];
            for (int i = 0; i < text.length(); i++) {
                if (text.words()[i] >= 0) {
                    kept[text.words()[i]] = !plan.masks().get(c)[i];
                }
            }
            f[c] = v.applyAsDouble(kept);
        }
        boolean[] all = new boolean[m];
        java.util.Arrays.fill(all, true);
        return plan.finish().apply(v.applyAsDouble(all), f).wordAttributions();
    }

    @Test
    void theScoresAreCaptumsLoopOverTheSamePermutationsAndAddUpExactly() {
        int m = 6;
        for (int permutations : new int[] {1, 3, 25}) {
            float[] scores = planScores(m, permutations, 11, ShapleyValueSamplingTest::game);
            // Captum's loop, literally: per permutation, start at the baseline and switch features on in order.
            double[] expected = new double[m];
            for (int[] order : ShapleyValueSampling.permutations(m, permutations, 11)) {
                boolean[] kept = new boolean[m];
                double previous = game(kept);
                for (int w : order) {
                    kept[w] = true;
                    double current = game(kept);
                    expected[w] += (current - previous) / permutations;
                    previous = current;
                }
            }
            double sum = 0;
            for (int w = 0; w < m; w++) {
                assertEquals(expected[w], scores[w], 1e-6, permutations + " permutations, word " + w);
                sum += scores[w];
            }
            boolean[] all = new boolean[m];
            java.util.Arrays.fill(all, true);
            assertEquals(game(all) - game(new boolean[m]), sum, 1e-5, "efficiency");
        }
        // One word: its score is the whole change; no word: no score.
        assertEquals(game(new boolean[] {true}) - game(new boolean[1]), planScores(1, 25, 3,
                ShapleyValueSamplingTest::game)[0], 1e-6);
        assertEquals(0, planScores(0, 25, 3, ShapleyValueSamplingTest::game).length);
        assertEquals(1 + 25 * 5 + 1, ShapleyValueSampling.plan(words(6), 25, 1).masks().size() + 1,
                "forward passes: the baseline once, M − 1 copies per permutation, and F(x)");
    }

    /** With many permutations the scores approach the exact Shapley values (enumerated over all coalitions). */
    @Test
    void manyPermutationsApproachTheExactShapleyValues() {
        int m = 5;
        float[] sampled = planScores(m, 20_000, 5, ShapleyValueSamplingTest::game);
        double[] exact = new double[m];
        long[] factorial = {1, 1, 2, 6, 24, 120};
        for (int w = 0; w < m; w++) {
            for (int s = 0; s < 1 << m; s++) {
                if ((s >> w & 1) != 0) {
                    continue;
                }
                boolean[] without = new boolean[m];
                for (int i = 0; i < m; i++) {
                    without[i] = (s >> i & 1) != 0;
                }
                boolean[] with = without.clone();
                with[w] = true;
                int size = Integer.bitCount(s);
                exact[w] += (double) factorial[size] * factorial[m - size - 1] / factorial[m]
                        * (game(with) - game(without));
            }
        }
        for (int w = 0; w < m; w++) {
            assertEquals(exact[w], sampled[w], 0.03, "word " + w); // sampling error ≈ 0.01 at 20,000
        }
    }

    @Test
    void permutationsAreUniform() {
        Map<String, Integer> counts = new HashMap<>();
        for (int[] order : ShapleyValueSampling.permutations(4, 24_000, 7)) {
            counts.merge(java.util.Arrays.toString(order), 1, Integer::sum);
        }
        assertEquals(24, counts.size());
        counts.forEach((order, n) -> assertEquals(1000, n, 5 * Math.sqrt(1000), order));
    }

    static Stream<Path> models() throws Exception {
        return SurrogateMethodsTest.models();
    }

    /** Efficiency, exactly up to rounding, at Captum's default 25 permutations: the real model and 14 golden ones. */
    @ParameterizedTest
    @MethodSource("models")
    void theScoresAddUpToTheChangeFromTheBaseline(Path model) throws Exception {
        List<TextInput> texts = new ArrayList<>(List.of(new TextInput("a", "the movie was good", "who was good ?"),
                new TextInput("b", "a bad plot , bad acting and a very long story", "what was bad ?"),
                new TextInput("d", "fine", "is it fine ?")));
        if (model.equals(Fixtures.realModel())) {
            texts.add(new TextInput("sst", "it 's a charming and often affecting journey .", null));
        }
        AttributionOptions options = AttributionOptions.defaults().nSteps(2)
                .analyses(Set.of(Analysis.INTEGRATED_GRADIENTS)).methods("shapley_value_sampling");
        int targets = 0;
        try (Predictor p = Predictor.open(model, null, Device.cpu()); Explainer e = new Explainer(p, options)) {
            boolean pairs = p.model().config().task() == Task.QUESTION_ANSWERING;
            List<SampleAttribution> results = e.attribute(texts.stream().map(t -> e.sample(pairs ? t
                    : new TextInput(t.id(), t.text(), null), null)).toList());
            for (SampleAttribution s : results) {
                int words = MethodScores.wordCount(s.sample().encoding().words());
                for (TargetAttribution t : s.targets()) {
                    MethodScores shapley = t.methods().get("shapley_value_sampling");
                    assertEquals(2 + (long) ShapleyValueSampling.DEFAULT_SAMPLES * (words - 1),
                            shapley.forwardPasses());
                    double sum = 0;
                    for (float v : shapley.wordAttributions()) {
                        sum += v;
                    }
                    String where = model.getFileName() + " " + s.sample().input().id() + " " + t.name();
                    // F(x′) of the sweep and of the method's own baseline copy come from different float32 passes.
                    double floatNoise = 1e-5 * Math.max(Math.abs(t.fInput()), Math.abs(t.fBaseline())) + 1e-6;
                    assertEquals(t.fInput() - t.fBaseline(), sum, floatNoise, where + ": efficiency");
                    targets++;
                }
            }
        }
        assertTrue(targets >= texts.size());
    }
}
