package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.attributionatlas.attribution.method.AttentionAttribution;
import io.attributionatlas.attribution.method.KernelShap;
import io.attributionatlas.attribution.method.Lime;
import io.attributionatlas.attribution.method.SurrogateModel;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import io.attributionatlas.report.ExplanationJson;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The attribution methods beside the sweep's: each against its definition computed by hand with the model's
 * forward pass (occlusion, word ablation), the gradient methods against the sweep's own results, the surrogate
 * fit against exact linear data, seeded sampling, costs, and the JSON that carries them.
 */
class MethodsTest {

    @TempDir
    static Path tmp;

    private static final TextInput PAIR = new TextInput("p", "the movie was very good .", "bad plot");

    private static Predictor open(Task task) throws Exception {
        return Predictor.open(TinyModels.write(tmp.resolve("methods-" + task), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                task).withWeightScale(0.15)), null, Device.cpu());
    }

    private static SampleAttribution explain(Predictor p, AttributionOptions o, TextInput input) {
        try (Explainer e = new Explainer(p, o)) {
            return e.attribute(List.of(e.sample(input, null))).get(0);
        }
    }

    /** The logits with the given positions replaced by pad, by a plain forward pass. */
    private static float[] logits(Predictor p, EncodedText text, List<Integer> padded) {
        long[] ids = text.ids().clone();
        for (int i : padded) {
            ids[i] = p.padId();
        }
        try (NDManager scope = p.model().manager().newSubManager()) {
            ForwardResult r = p.model().forward(EncodedBatch.pad(List.of(ids), List.of(text.typeIds()), p.padId()),
                    ForwardOptions.predictOnly(), scope);
            return r.logits().get(0).toFloatArray();
        }
    }

    private static double logit(Predictor p, EncodedText text, int target, int... padded) {
        return logits(p, text, java.util.Arrays.stream(padded).boxed().toList())[target];
    }

    @Test
    void everyMethodAgreesWithItsDefinition() throws Exception {
        try (Predictor p = open(Task.SEQUENCE_CLASSIFICATION)) {
            AttributionOptions o = AttributionOptions.defaults().nSteps(16).methods(AttributionMethods.parseList(
                    "integrated_gradients,saliency,input_x_gradient,occlusion,word_ablation,kernel_shap,lime"));
            SampleAttribution s = explain(p, o, PAIR);
            EncodedText text = s.sample().encoding();
            TargetAttribution t = s.targets().get(0);
            int n = text.length();
            int words = MethodScores.wordCount(text.words());
            assertEquals(List.of("integrated_gradients", "saliency", "input_x_gradient", "occlusion", "word_ablation",
                    "kernel_shap", "lime"), List.copyOf(t.methods().keySet()));
            for (MethodScores m : t.methods().values()) {
                assertEquals(n, m.tokenAttributions().length, m.name());
                assertEquals(words, m.wordAttributions().length, m.name());
            }
            assertArrayEquals(t.igTokenSum(), t.methods().get("integrated_gradients").tokenAttributions());
            assertArrayEquals(t.gradXInput(), t.methods().get("input_x_gradient").tokenAttributions());
            assertEquals(16, t.methods().get("integrated_gradients").backwardPasses());
            for (float v : t.methods().get("saliency").tokenAttributions()) {
                assertTrue(v >= 0, "saliency is a magnitude");
            }

            double original = logit(p, text, t.index());
            assertEquals(t.fInput(), original, 1e-5);
            List<Integer> content = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                if (!text.special()[i]) {
                    content.add(i);
                }
            }
            MethodScores occlusion = t.methods().get("occlusion");
            for (int i = 0; i < n; i++) {
                double expected = text.special()[i] ? 0 : original - logit(p, text, t.index(), i);
                assertEquals(expected, occlusion.tokenAttributions()[i], 1e-5, "occlusion of token " + i);
            }
            assertEquals(1 + content.size(), occlusion.forwardPasses());
            assertEquals(0, occlusion.backwardPasses());

            MethodScores ablation = t.methods().get("word_ablation");
            for (int w = 0; w < words; w++) {
                List<Integer> tokens = new ArrayList<>();
                for (int i = 0; i < n; i++) {
                    if (text.words()[i] == w) {
                        tokens.add(i);
                    }
                }
                double expected = original - logit(p, text, t.index(), tokens.stream().mapToInt(Integer::intValue)
                        .toArray());
                assertEquals(expected, ablation.wordAttributions()[w], 1e-5, "ablation of word " + w);
                for (int i : tokens) {
                    assertEquals(ablation.wordAttributions()[w], ablation.tokenAttributions()[i], "a word's tokens");
                }
            }
            assertEquals(1 + words, ablation.forwardPasses());
            assertEquals(KernelShap.DEFAULT_SAMPLES, t.methods().get("kernel_shap").forwardPasses());
            assertEquals(Lime.DEFAULT_SAMPLES, t.methods().get("lime").forwardPasses());

            // A window of 3: each token's score is the mean change over the windows covering it.
            SampleAttribution wide = explain(p, AttributionOptions.defaults().nSteps(4).set("occlusion_window", "3")
                    .methods("occlusion"), PAIR);
            MethodScores three = wide.targets().get(0).methods().get("occlusion");
            int first = content.get(0);
            double firstWindow = original - logit(p, text, t.index(), content.get(0), content.get(1), content.get(2));
            assertEquals(firstWindow, three.tokenAttributions()[first], 1e-5, "the first token is in one window only");
            assertEquals(1 + content.size() - 2, three.forwardPasses());

            JsonObject json = ExplanationJson.of(s, o);
            JsonObject methods = json.getAsJsonArray("targets").get(0).getAsJsonObject().getAsJsonObject("methods");
            assertEquals(7, methods.size());
            JsonObject lime = methods.getAsJsonObject("lime");
            assertEquals(n, lime.getAsJsonArray("token_attributions").size());
            assertEquals(words, lime.getAsJsonArray("word_attributions").size());
            assertEquals(Lime.DEFAULT_SAMPLES, lime.get("forward_passes").getAsLong());
            assertEquals(0, lime.get("backward_passes").getAsLong());
        }
    }

    private static double probability(Predictor p, EncodedText text, int target, List<Integer> padded) {
        return Predictor.softmax(logits(p, text, padded))[target];
    }

    @Test
    void faithfulnessIsErasersComprehensivenessAndSufficiency() throws Exception {
        try (Predictor p = open(Task.SEQUENCE_CLASSIFICATION)) {
            AttributionOptions o = AttributionOptions.defaults().nSteps(4).faithfulness(true)
                    .methods("occlusion,word_ablation");
            SampleAttribution s = explain(p, o, PAIR);
            TargetAttribution t = s.targets().get(0);
            EncodedText text = s.sample().encoding();
            assertEquals(List.of("occlusion", "word_ablation", "random"), List.copyOf(t.faithfulness().keySet()));
            float[] scores = t.methods().get("occlusion").tokenAttributions();
            List<Integer> content = new ArrayList<>();
            for (int i = 0; i < text.length(); i++) {
                if (!text.special()[i]) {
                    content.add(i);
                }
            }
            content.sort(java.util.Comparator.comparingDouble((Integer i) -> -scores[i]).thenComparing(i -> i));
            double original = probability(p, text, t.index(), List.of());
            double[] f = t.faithfulness().get("occlusion");
            for (int q = 0; q < Faithfulness.FRACTIONS.length; q++) {
                int k = Math.max(1, (int) Math.ceil(Faithfulness.FRACTIONS[q] * content.size()));
                double comprehensiveness = original - probability(p, text, t.index(), content.subList(0, k));
                double sufficiency = original - probability(p, text, t.index(), content.subList(k, content.size()));
                assertEquals(comprehensiveness, f[q], 1e-5, "comprehensiveness at " + Faithfulness.FRACTIONS[q]);
                assertEquals(sufficiency, f[Faithfulness.FRACTIONS.length + q], 1e-5, "sufficiency");
            }
            assertEquals((f[0] + f[1] + f[2]) / 3, Faithfulness.aopc(f, 0), 1e-12);
            JsonObject json = ExplanationJson.of(s, o).getAsJsonArray("targets").get(0).getAsJsonObject()
                    .getAsJsonObject("faithfulness");
            assertEquals(3, json.size());
            assertEquals(3, json.getAsJsonObject("random").getAsJsonArray("comprehensiveness").size());
        }
    }

    @Test
    void samplingMethodsAreSeededAndQuestionAnsweringGetsTheirScoresPerTarget() throws Exception {
        try (Predictor p = open(Task.QUESTION_ANSWERING)) {
            AttributionOptions o = AttributionOptions.defaults().nSteps(4).samples(40)
                    .methods("kernel_shap,lime");
            SampleAttribution a = explain(p, o, PAIR);
            SampleAttribution b = explain(p, AttributionOptions.defaults().nSteps(4).samples(40)
                    .methods("kernel_shap,lime"), PAIR);
            SampleAttribution c = explain(p, AttributionOptions.defaults().nSteps(4).samples(40).seed(7)
                    .methods("kernel_shap,lime"), PAIR);
            assertEquals(2, a.targets().size(), "start and end");
            for (int t = 0; t < 2; t++) {
                for (String m : List.of("kernel_shap", "lime")) {
                    float[] first = a.targets().get(t).methods().get(m).wordAttributions();
                    assertArrayEquals(first, b.targets().get(t).methods().get(m).wordAttributions(), m + " seeded");
                    assertFalse(java.util.Arrays.equals(first, c.targets().get(t).methods().get(m).wordAttributions()),
                            m + ": another seed, other draws");
                    assertEquals(40, a.targets().get(t).methods().get(m).forwardPasses());
                }
            }
        }
    }

    /** ‖b − a‖ / ‖a‖. */
    private static double relativeL2(float[] a, float[] b) {
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff += (a[i] - b[i]) * (a[i] - b[i]);
            norm += a[i] * a[i];
        }
        return Math.sqrt(diff / norm);
    }

    @Test
    void gradientShapAndAttentionAttributionFollowTheirDefinitions() throws Exception {
        try (Predictor p = open(Task.SEQUENCE_CLASSIFICATION)) {
            SampleAttribution s = explain(p, AttributionOptions.defaults().nSteps(32).samples(400)
                    .methods("integrated_gradients,gradient_shap,attention_attribution"),
                    PAIR);
            TargetAttribution t = s.targets().get(0);
            // Without noise GradientSHAP is integrated gradients with α drawn at random: close to it at 400 draws.
            double error = relativeL2(t.methods().get("integrated_gradients").tokenAttributions(),
                    t.methods().get("gradient_shap").tokenAttributions());
            assertTrue(error < 0.1, "GradientSHAP vs IG, relative L2 " + error);
            assertEquals(400, t.methods().get("gradient_shap").backwardPasses());
            // The same from a zero embedding, Captum's baseline when it is given zeros.
            TargetAttribution zero = explain(p, AttributionOptions.defaults().nSteps(32).samples(400)
                    .baseline(Baseline.parse("zero")).methods("integrated_gradients,gradient_shap"), PAIR).targets().get(0);
            double zeroError = relativeL2(zero.methods().get("integrated_gradients").tokenAttributions(),
                    zero.methods().get("gradient_shap").tokenAttributions());
            assertTrue(zeroError < 0.1, "GradientSHAP vs IG from a zero embedding, relative L2 " + zeroError);

            // Attention attribution: per layer, the scores add up to F(x) − F(that layer's attention zeroed), up to
            // the 20-step Riemann sum.
            MethodScores attention = t.methods().get("attention_attribution");
            int layers = p.model().config().numLayers();
            assertEquals(layers, attention.headScores().length);
            assertEquals(p.model().config().numHeads(), attention.headScores()[0].length);
            assertEquals((long) layers * AttentionAttribution.ATTENTION_STEPS, attention.backwardPasses());
            EncodedText text = s.sample().encoding();
            for (int l = 0; l < layers; l++) {
                double total = 0;
                for (float[][] head : attention.matrices()[l]) {
                    for (float[] row : head) {
                        for (float v : row) {
                            total += v;
                        }
                    }
                }
                double zeroed;
                try (NDManager scope = p.model().manager().newSubManager()) {
                    EncodedBatch batch = EncodedBatch.pad(List.of(text.ids()), List.of(text.typeIds()), p.padId());
                    ForwardResult clean = p.model().forward(batch, ForwardOptions.predictOnly().keepAttentions(), scope);
                    ForwardResult r = p.model().forward(batch, ForwardOptions.predictOnly().perturb(
                            ForwardOptions.Site.ATTENTION, l, clean.attentions().get(l).neg()), scope);
                    zeroed = r.logits().get(0).toFloatArray()[t.index()];
                }
                double change = t.fInput() - zeroed;
                assertEquals(change, total, 0.1 * Math.abs(change) + 1e-3, "layer " + l + " attention attribution");
            }
        }
    }

    /** Perturbed copies of many samples share padded passes: each sample's scores are those it gets alone. */
    @Test
    void perturbationsBatchedAcrossSamplesEqualEachSampleAlone() throws Exception {
        try (Predictor p = open(Task.QUESTION_ANSWERING)) {
            List<TextInput> inputs = List.of(PAIR, new TextInput("q2", "who won ?", "the team won the game"),
                    new TextInput("q3", "was the movie good ?", "not very"));
            java.util.function.Supplier<AttributionOptions> options = () -> AttributionOptions.defaults().nSteps(4)
                    .faithfulness(true).methods("occlusion,word_ablation,kernel_shap,lime");
            List<SampleAttribution> together;
            try (Explainer e = new Explainer(p, options.get())) {
                together = e.attribute(inputs.stream().map(i -> e.sample(i, null)).toList());
            }
            for (int k = 0; k < inputs.size(); k++) {
                SampleAttribution alone = explain(p, options.get(), inputs.get(k));
                for (int t = 0; t < alone.targets().size(); t++) {
                    TargetAttribution a = alone.targets().get(t);
                    TargetAttribution b = together.get(k).targets().get(t);
                    for (String m : a.methods().keySet()) {
                        assertArrayEquals(a.methods().get(m).tokenAttributions(), b.methods().get(m)
                                .tokenAttributions(), 1e-5f, inputs.get(k).id() + " " + m);
                    }
                    for (String m : a.faithfulness().keySet()) {
                        assertArrayEquals(a.faithfulness().get(m), b.faithfulness().get(m), 1e-5, "faithfulness " + m);
                    }
                }
            }
        }
    }

    @Test
    void theSurrogateFitRecoversALinearFunctionExactly() {
        Random random = new Random(1);
        double[] coefficients = {0.5, -1.25, 2.0, 0.0, 3.5};
        List<boolean[]> z = new ArrayList<>();
        List<Double> y = new ArrayList<>();
        List<Double> weights = new ArrayList<>();
        for (int s = 0; s < 40; s++) {
            boolean[] row = new boolean[coefficients.length];
            double value = 0.75;
            for (int j = 0; j < row.length; j++) {
                row[j] = random.nextBoolean();
                value += row[j] ? coefficients[j] : 0;
            }
            z.add(row);
            y.add(value);
            weights.add(0.1 + random.nextDouble());
        }
        double[] fit = SurrogateModel.fit(z, y.stream().mapToDouble(Double::doubleValue).toArray(),
                weights.stream().mapToDouble(Double::doubleValue).toArray());
        assertArrayEquals(coefficients, fit, 1e-9);
        // Fewer samples than words: the minimum-norm least-squares solution, finite.
        double[] under = SurrogateModel.fit(z.subList(0, 3), new double[] {1, 2, 3}, new double[] {1, 1, 1});
        assertEquals(coefficients.length, under.length);
        for (double v : under) {
            assertTrue(Double.isFinite(v));
        }
    }

    @Test
    void methodNamesAreCheckedAndCaptumsRuleComputesIntegratedGradientsOnItsOwnPoints() throws Exception {
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> AttributionOptions.defaults().set("methods", "saliency,shapley"));
        assertTrue(unknown.getMessage().contains("unknown method 'shapley'"), unknown.getMessage());
        assertEquals(ConductanceRule.QUADRATIC, AttributionOptions.defaults().conductance(), "the default rule");

        try (Predictor p = open(Task.SEQUENCE_CLASSIFICATION)) {
            SampleAttribution captum = explain(p, AttributionOptions.defaults().nSteps(12)
                    .conductance(ConductanceRule.CAPTUM), PAIR);
            SampleAttribution trapezoid = explain(p, AttributionOptions.defaults().nSteps(12)
                    .conductance(ConductanceRule.TRAPEZOID), PAIR);
            assertEquals(12, captum.pointsIg(), "Captum's LayerIntegratedGradients at n_steps = 12");
            assertEquals(13, captum.pointsConductance(), "Captum's LayerConductance at n_steps = 12");
            float[] a = captum.targets().get(0).igTokenSum();
            float[] b = trapezoid.targets().get(0).igTokenSum();
            assertNotNull(a);
            assertArrayEquals(b, a, 1e-6f, "the same 12 points and weights, whatever the conductance rule");
        }
    }
}
