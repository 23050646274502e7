package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** Axioms and invariances of the attribution engine on tiny random models of every architecture and head. */
class TinyModelAttributionTest {

    static final List<TextInput> INPUTS = List.of(TextInput.of("the movie was very good ."),
            TextInput.of("bad plot"), new TextInput("pair", "who won the game ?", "the team won"),
            TextInput.of("not a good plot , the acting was bad !"));

    @TempDir
    Path tmp;

    static Stream<Arguments> architecturesAndHeads() {
        List<Arguments> all = new ArrayList<>();
        for (EncoderFamily a : EncoderFamilies.all()) {
            all.add(Arguments.of(a, Task.SEQUENCE_CLASSIFICATION));
            if (a.refusesTask(Task.QUESTION_ANSWERING) == null) {
                all.add(Arguments.of(a, Task.QUESTION_ANSWERING));
            }
        }
        return all.stream();
    }

    /** Weight scale of the tiny models here: N(0, 0.15²), several times HF's initializer_range of 0.02. */
    static final double WEIGHT_SCALE = 0.15;

    private Predictor open(EncoderFamily a, Task t) throws Exception {
        return Predictor.open(TinyModels.write(tmp.resolve(a + "-" + t), TinyModels.Spec.of(a, t)
                .withWeightScale(WEIGHT_SCALE)), null, Device.cpu());
    }

    static List<SampleAttribution> explain(Predictor p, AttributionOptions o, List<TextInput> inputs) {
        try (Explainer e = new Explainer(p, o)) {
            return e.attribute(inputs.stream().map(i -> e.sample(qa(p, i), 1)).toList());
        }
    }

    /** QA models need a context: single texts get one. */
    private static TextInput qa(Predictor p, TextInput i) {
        return p.model().config().task() == Task.QUESTION_ANSWERING && i.textPair() == null
                ? new TextInput(i.id(), i.text(), "the acting was good") : i;
    }

    @ParameterizedTest
    @MethodSource("architecturesAndHeads")
    void axiomsHold(EncoderFamily arch, Task task) throws Exception {
        try (Predictor p = open(arch, task)) {
            List<SampleAttribution> results = explain(p, AttributionOptions.defaults(), INPUTS);
            int layers = TinyModels.LAYERS;
            for (SampleAttribution s : results) {
                int n = s.sample().length();
                assertEquals(task == Task.QUESTION_ANSWERING ? 2 : 1, s.targets().size());
                for (TargetAttribution t : s.targets()) {
                    double change = t.fInput() - t.fBaseline();
                    assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(change), arch + " " + task + " IG delta "
                            + t.delta() + " vs F(x) − F(x') " + change);
                    for (int l = 0; l < layers; l++) {
                        double relative = Math.abs(t.layerTotal()[l] - change) / Math.abs(change);
                        assertTrue(relative < 5e-3, arch + " " + task + " layer " + l + ": " + t.layerTotal()[l]
                                + " vs " + change);
                    }
                    assertEquals(n, t.igTokenSum().length);
                    double squares = 0;
                    for (float v : t.igTokenNorm()) {
                        squares += v * v;
                    }
                    assertEquals(1.0, squares, 1e-5, "L2-normalised");
                    assertEquals(n, t.gradXInput().length);
                    assertEquals(layers, t.headImportance().length);
                    assertEquals(TinyModels.HEADS, t.headImportance()[0].length);
                    assertEquals(n, t.attentionConductance()[0][0].length);
                    // Special tokens are kept in the baseline, so their IG attribution is exactly zero, except
                    // where positions follow the baseline's padding (RoBERTa, as transformers and Captum do).
                    for (int i = 0; i < n; i++) {
                        if (s.sample().encoding().special()[i] && !arch.positionsFromPadding()) {
                            assertEquals(0f, t.igTokenSum()[i], 1e-7f);
                        }
                    }
                }
                for (int l = 0; l < layers; l++) {
                    for (int h = 0; h < TinyModels.HEADS; h++) {
                        for (int i = 0; i < n; i++) {
                            double row = 0;
                            double rollout = 0;
                            for (int j = 0; j < n; j++) {
                                row += s.attentions()[l][h][i][j];
                                rollout += s.rollout()[i][j];
                                float alphaFx = s.normAlphaFx()[l][h][i][j];
                                assertTrue(alphaFx >= 0, "norms are non-negative");
                                assertEquals(s.attentions()[l][h][i][j] * s.normFx()[l][h][j], alphaFx, 1e-5);
                                float sumOfNorms = 0;
                                for (int g = 0; g < TinyModels.HEADS; g++) {
                                    sumOfNorms += s.normAlphaFx()[l][g][i][j];
                                }
                                assertTrue(s.normSumAlphaFx()[l][i][j] <= sumOfNorms + 1e-5, "triangle inequality");
                                assertTrue(s.normSumAlphaFx()[l][i][j] >= 0);
                            }
                            assertEquals(1.0, row, 1e-5, "attention rows sum to 1");
                            assertEquals(1.0, rollout, 1e-5, "rollout rows sum to 1");
                        }
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("architecturesAndHeads")
    void singlePassEqualsNaivePerLayerSweeps(EncoderFamily arch, Task task) throws Exception {
        try (Predictor p = open(arch, task)) {
            AttributionOptions single = AttributionOptions.defaults().nSteps(12).internalBatchSize(16);
            AttributionOptions naive = AttributionOptions.defaults().nSteps(12).internalBatchSize(16)
                    .strategy(AttributionOptions.Strategy.NAIVE);
            assertSame(explain(p, single, INPUTS), explain(p, naive, INPUTS), 1e-5);
            for (ConductanceRule rule : List.of(ConductanceRule.CAPTUM, ConductanceRule.QUADRATIC)) {
                AttributionOptions o = AttributionOptions.defaults().nSteps(12).conductance(rule);
                assertSame(explain(p, o, INPUTS), explain(p, AttributionOptions.defaults().nSteps(12).conductance(rule)
                        .strategy(AttributionOptions.Strategy.NAIVE), INPUTS), 1e-5);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(ConductanceRule.class)
    void resultsDoNotDependOnBatchingOrOrder(ConductanceRule rule) throws Exception {
        for (EncoderFamily arch : EncoderFamilies.all()) {
            try (Predictor p = open(arch, Task.SEQUENCE_CLASSIFICATION)) {
                AttributionOptions o = AttributionOptions.defaults().nSteps(10).conductance(rule);
                List<SampleAttribution> reference = explain(p, o.internalBatchSize(64), INPUTS);
                assertSame(reference, explain(p, o.internalBatchSize(1), INPUTS), 1e-5);
                assertSame(reference, explain(p, o.internalBatchSize(7), INPUTS), 1e-5);
                List<Integer> order = new ArrayList<>(List.of(0, 1, 2, 3));
                Collections.shuffle(order, new Random(3));
                List<SampleAttribution> shuffled = explain(p, o.internalBatchSize(7),
                        order.stream().map(INPUTS::get).toList());
                List<SampleAttribution> unshuffled = new ArrayList<>(Collections.nCopies(4, null));
                for (int k = 0; k < 4; k++) {
                    unshuffled.set(order.get(k), shuffled.get(k));
                }
                assertSame(reference, unshuffled, 1e-5);
            }
        }
    }

    @Test
    void inputEqualToBaselineGetsZeroAttribution() throws Exception {
        try (Predictor p = open(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION)) {
            long the = p.tokenizer().idOf("the");
            AttributionOptions o = AttributionOptions.defaults().baseline(new Baseline("id", the)).nSteps(8);
            TargetAttribution t = explain(p, o, List.of(TextInput.of("the the the"))).get(0).targets().get(0);
            assertEquals(t.fInput(), t.fBaseline(), 1e-6);
            assertEquals(0, t.delta(), 1e-6);
            for (float v : t.igTokenSum()) {
                assertEquals(0f, v, 1e-7f);
            }
            for (float[] layer : t.layerTokenSum()) {
                for (float v : layer) {
                    assertEquals(0f, v, 1e-6f);
                }
            }
            for (float[][][] layer : t.attentionConductance()) {
                for (float[][] head : layer) {
                    for (float[] row : head) {
                        for (float v : row) {
                            assertEquals(0f, v, 1e-6f);
                        }
                    }
                }
            }
        }
    }

    @Test
    void targetsOutputsAndBaselinesAreSelectable() throws Exception {
        try (Predictor p = open(EncoderFamilies.of("electra"), Task.SEQUENCE_CLASSIFICATION)) {
            AttributionOptions all = AttributionOptions.defaults().nSteps(16).target(TargetSpec.parse("all"))
                    .output(TargetSpec.Output.PROBABILITY);
            SampleAttribution s = explain(p, all, INPUTS.subList(0, 1)).get(0);
            assertEquals(3, s.targets().size());
            double sumChange = 0;
            for (int c = 0; c < 3; c++) {
                TargetAttribution t = s.targets().get(c);
                assertEquals("class_" + c, t.label());
                assertEquals(s.prediction().probabilities()[c], t.fInput(), 1e-5);
                assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(t.fInput() - t.fBaseline()) + 1e-6);
                sumChange += t.fInput() - t.fBaseline();
            }
            assertEquals(0, sumChange, 1e-5, "probabilities of all classes change by zero in total");
            TargetAttribution byName = explain(p, AttributionOptions.defaults().nSteps(8)
                    .target(TargetSpec.parse("class_2")), INPUTS.subList(0, 1)).get(0).targets().get(0);
            assertEquals(2, byName.index());
            TargetAttribution byLabel = explain(p, AttributionOptions.defaults().nSteps(8)
                    .target(TargetSpec.parse("label")), INPUTS.subList(0, 1)).get(0).targets().get(0);
            assertEquals(1, byLabel.index(), "the sample's label (1) is the target");
            for (String baseline : List.of("mask", "unk", "zero", "7")) {
                TargetAttribution t = explain(p, AttributionOptions.defaults().baseline(Baseline.parse(baseline)),
                        INPUTS.subList(0, 1)).get(0).targets().get(0);
                assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(t.fInput() - t.fBaseline()), baseline);
            }
            assertThrows(IllegalArgumentException.class, () -> explain(p, AttributionOptions.defaults()
                    .target(TargetSpec.parse("class_9")), INPUTS.subList(0, 1)));
        }
    }

    @Test
    void questionAnsweringTargetsStartAndEnd() throws Exception {
        try (Predictor p = open(EncoderFamilies.of("distilbert"), Task.QUESTION_ANSWERING)) {
            SampleAttribution s = explain(p, AttributionOptions.defaults().nSteps(16), INPUTS.subList(2, 3)).get(0);
            TargetAttribution start = s.targets().get(0);
            TargetAttribution end = s.targets().get(1);
            assertEquals("start", start.name());
            assertEquals(s.prediction().answer().start(), start.index());
            assertEquals(s.prediction().startLogits()[start.index()], start.fInput(), 1e-5);
            assertEquals(s.prediction().endLogits()[end.index()], end.fInput(), 1e-5);
            SampleAttribution max = explain(p, AttributionOptions.defaults().nSteps(50)
                    .qaReduction(TargetSpec.QaReduction.MAX), INPUTS.subList(2, 3)).get(0);
            float best = Float.NEGATIVE_INFINITY;
            for (float v : max.prediction().startLogits()) {
                best = Math.max(best, v);
            }
            assertEquals(best, max.targets().get(0).fInput(), 1e-5);
            SampleAttribution probability = explain(p, AttributionOptions.defaults().nSteps(50)
                    .output(TargetSpec.Output.PROBABILITY), INPUTS.subList(2, 3)).get(0);
            TargetAttribution t = probability.targets().get(0);
            assertTrue(t.fInput() > 0 && t.fInput() < 1);
            assertTrue(Math.abs(t.delta()) < 1e-3 * Math.abs(t.fInput() - t.fBaseline()));
        }
    }

    @Test
    void analysesCanBeSwitchedOff() throws Exception {
        try (Predictor p = open(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION)) {
            SampleAttribution forwardOnly = explain(p, AttributionOptions.defaults().analyses(Analysis.forwardOnly()),
                    INPUTS).get(0);
            assertTrue(forwardOnly.targets().isEmpty());
            assertNotNull(forwardOnly.attentions());
            assertNotNull(forwardOnly.rollout());
            assertEquals(0, forwardOnly.pointsIg());
            SampleAttribution gradientsOnly = explain(p, AttributionOptions.defaults().analyses(EnumSet.of(
                    Analysis.GRAD_X_INPUT, Analysis.HEAD_IMPORTANCE)), INPUTS).get(0);
            TargetAttribution t = gradientsOnly.targets().get(0);
            assertNull(t.igTokenSum());
            assertNull(t.layerTokenSum());
            assertNull(gradientsOnly.attentions());
            assertNotNull(t.gradXInput());
            assertNotNull(t.headImportance());
        }
        try (Predictor encoder = open(EncoderFamilies.of("bert"), Task.ENCODER)) {
            assertThrows(IllegalArgumentException.class, () -> new Explainer(encoder, AttributionOptions.defaults()));
            assertNotNull(explain(encoder, AttributionOptions.defaults().analyses(Set.of(Analysis.NORMS)), INPUTS)
                    .get(0).normFx());
        }
    }

    /** Every number of two explanations agrees within {@code tolerance}. */
    static void assertSame(List<SampleAttribution> a, List<SampleAttribution> b, double tolerance) {
        assertEquals(a.size(), b.size());
        for (int s = 0; s < a.size(); s++) {
            assertEquals(a.get(s).sample().input(), b.get(s).sample().input());
            for (int t = 0; t < a.get(s).targets().size(); t++) {
                TargetAttribution x = a.get(s).targets().get(t);
                TargetAttribution y = b.get(s).targets().get(t);
                String where = "sample " + s + " target " + t;
                assertEquals(x.index(), y.index(), where);
                assertEquals(x.fInput(), y.fInput(), tolerance, where + " F(x)");
                assertEquals(x.fBaseline(), y.fBaseline(), tolerance, where + " F(x')");
                close(x.igTokenSum(), y.igTokenSum(), tolerance, where + " IG");
                close(x.gradXInput(), y.gradXInput(), tolerance, where + " grad x input");
                for (int l = 0; l < x.layerTokenSum().length; l++) {
                    close(x.layerTokenSum()[l], y.layerTokenSum()[l], tolerance, where + " conductance layer " + l);
                    close(x.headImportance()[l], y.headImportance()[l], tolerance, where + " head importance " + l);
                    for (int h = 0; h < x.attentionConductance()[l].length; h++) {
                        for (int i = 0; i < x.attentionConductance()[l][h].length; i++) {
                            close(x.attentionConductance()[l][h][i], y.attentionConductance()[l][h][i], tolerance,
                                    where + " attention conductance " + l + "," + h + "," + i);
                        }
                    }
                }
            }
        }
    }

    private static void close(float[] x, float[] y, double tolerance, String what) {
        assertEquals(x.length, y.length, what);
        for (int i = 0; i < x.length; i++) {
            assertEquals(x[i], y[i], tolerance, what + " [" + i + "]");
        }
    }
}
