package io.attributionatlas.attribution;

import static io.attributionatlas.model.GoldenForwardTest.compare;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import io.attributionatlas.attribution.sweep.IntegrationMethod;
import static io.attributionatlas.model.GoldenForwardTest.longs;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;

import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Models of each family saved by {@code transformers} 5.17 itself ({@code ../shared/golden/hf}, and MPNet in
 * {@code golden/hf-next}), against the
 * values {@code transformers} and Captum 0.6 computed on them: token ids and token types from the model's own
 * {@code tokenizer.json}; logits (or start/end logits), every hidden state and every attention tensor within
 * 1e-4, one by one and as one padded batch; the baseline ids; integrated gradients (gausslegendre, 50 steps)
 * within 1e-4 relative; every layer's conductance with Captum's rule (riemann_trapezoid, 400 steps) within
 * 5e-4 relative (float32 differences of consecutive layer outputs, 400 of them).
 */
class TransformersGoldenTest {

    private static final double FORWARD = 1e-4;
    private static final double IG_RELATIVE = 1e-4;
    private static final double CONDUCTANCE_RELATIVE = 5e-4;

    /** The goldens of "set/model", e.g. "hf/bert-cls", from that set's goldens.jsonl.gz. */
    static List<JsonObject> goldens(String name) throws IOException {
        List<JsonObject> out = new ArrayList<>();
        String model = name.substring(name.indexOf('/') + 1);
        Path file = Fixtures.shared().resolve("golden/" + name.substring(0, name.indexOf('/')) + "/goldens.jsonl.gz");
        try (BufferedReader r = new BufferedReader(new InputStreamReader(new GZIPInputStream(Files.newInputStream(
                file)), StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                JsonObject o = JsonParser.parseString(line).getAsJsonObject();
                if (o.get("model").getAsString().equals(model)) {
                    out.add(o);
                }
            }
        }
        assertTrue(out.size() >= 2, model + ": goldens"); // QA models: the two question/context pairs
        return out;
    }

    private static String string(JsonObject o, String key) {
        return o.has(key) && !o.get(key).isJsonNull() ? o.get(key).getAsString() : null;
    }

    @ParameterizedTest
    @ValueSource(strings = {"hf/bert-cls", "hf/roberta-cls", "hf/roberta-qa", "hf/xlm-roberta-cls", "hf/albert-cls",
        "hf/deberta-v2-cls", "hf/deberta-v2-qa", "hf/modernbert-cls", "hf-next/mpnet-cls", "hf-next/mpnet-qa"})
    void tokensAndForwardEqualTransformers(String name) throws IOException {
        List<JsonObject> cases = goldens(name);
        try (Predictor p = Predictor.open(Fixtures.shared().resolve("golden/" + name), null, Device.cpu())) {
            List<EncodedText> encodings = new ArrayList<>();
            for (JsonObject c : cases) {
                EncodedText e = p.encode(new TextInput(string(c, "id"), string(c, "text"), string(c, "text_pair")));
                String where = name + " " + string(c, "id");
                assertArrayEquals(longs(c.getAsJsonArray("input_ids")), e.ids(), where + " input_ids");
                List<String> tokens = new ArrayList<>();
                c.getAsJsonArray("tokens").forEach(t -> tokens.add(t.getAsString()));
                assertEquals(tokens, List.of(e.tokens()), where + " tokens");
                if (!c.get("token_type_ids").isJsonNull()) {
                    assertArrayEquals(longs(c.getAsJsonArray("token_type_ids")), e.typeIds(), where + " token types");
                }
                assertArrayEquals(longs(c.getAsJsonArray("baseline_ids")), Baseline.PAD.ids(e,
                        p.tokenizer().specialTokens(), p.tokenizer().vocabularySize()), where + " baseline ids");
                encodings.add(e);
            }
            for (int i = 0; i < cases.size(); i++) {
                forward(p, List.of(cases.get(i)), List.of(encodings.get(i)), name);
            }
            forward(p, cases, encodings, name + " (batched)");
        }
    }

    private static void forward(Predictor p, List<JsonObject> cases, List<EncodedText> encodings, String name) {
        EncodedBatch batch = EncodedBatch.ofTexts(encodings, p.padId());
        try (NDManager scope = p.model().manager().newSubManager()) {
            ForwardResult r = p.model().forward(batch, new ForwardOptions().keepAttentions().keepHiddenStates(), scope);
            for (int b = 0; b < cases.size(); b++) {
                JsonObject c = cases.get(b);
                int n = encodings.get(b).length();
                String where = name + " " + string(c, "id");
                if (c.has("logits")) {
                    compare(c.get("logits"), r.logits().get(b), where + " logits");
                } else {
                    compare(c.get("start_logits"), r.startLogits().get(new NDIndex("{}, :{}", b, n)), where + " start");
                    compare(c.get("end_logits"), r.endLogits().get(new NDIndex("{}, :{}", b, n)), where + " end");
                }
                JsonArray hidden = c.getAsJsonArray("hidden_states");
                JsonArray attentions = c.getAsJsonArray("attentions");
                int layers = p.model().config().numLayers();
                assertEquals(layers + 1, hidden.size());
                // hidden_states[0] is the encoder's input: the embeddings' output, projected where the family
                // projects it (ALBERT); the engine's embedding site is before the projection.
                if (!p.model().config().hasEmbeddingProjection()) {
                    compare(hidden.get(0), r.embeddingOutput().get(new NDIndex("{}, :{}", b, n)), where + " embeddings");
                }
                for (int l = 0; l < layers; l++) {
                    // ModernBERT's last hidden state is reported after its final norm (the heads' input).
                    NDArray h = l == layers - 1 && p.model().config().family().modelType().equals("modernbert")
                            ? r.lastHiddenState() : r.hiddenStates().get(l);
                    compare(hidden.get(l + 1), h.get(new NDIndex("{}, :{}", b, n)), where + " hidden " + (l + 1));
                    compare(attentions.get(l), r.attentions().get(l).get(new NDIndex("{}, :, :{}, :{}", b, n, n)),
                            where + " attentions " + l);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"hf/bert-cls", "hf/roberta-cls", "hf/roberta-qa", "hf/xlm-roberta-cls", "hf/albert-cls",
        "hf/deberta-v2-cls", "hf/deberta-v2-qa", "hf/modernbert-cls", "hf-next/mpnet-cls", "hf-next/mpnet-qa"})
    void attributionsEqualCaptum(String name) throws IOException {
        List<JsonObject> cases = goldens(name);
        try (Predictor p = Predictor.open(Fixtures.shared().resolve("golden/" + name), null, Device.cpu())) {
            boolean qa = p.model().config().task() == Task.QUESTION_ANSWERING;
            for (JsonObject c : cases) {
                JsonObject golden = c.getAsJsonObject("attributions");
                String target = qa ? "predicted" : Integer.toString(golden.getAsJsonObject("class")
                        .get("target_index").getAsInt());
                // The goldens' QA targets are each logit's own argmax.
                java.util.function.Supplier<AttributionOptions> base = () -> AttributionOptions.defaults()
                        .qaReduction(TargetSpec.QaReduction.ARGMAX);
                TextInput input = new TextInput(string(c, "id"), string(c, "text"), string(c, "text_pair"));
                String where = name + " " + input.id();
                List<TargetAttribution> ig = attribute(p, input, base.get()
                        .method(IntegrationMethod.GAUSS_LEGENDRE).nSteps(50).target(TargetSpec.parse(target)));
                List<TargetAttribution> conductance = golden.entrySet().iterator().next().getValue().getAsJsonObject()
                        .has("layer_conductance_token_sum_n400")
                        ? attribute(p, input, base.get().method(IntegrationMethod.RIEMANN_TRAPEZOID)
                                .nSteps(400).conductance(ConductanceRule.CAPTUM).target(TargetSpec.parse(target)))
                        : null;
                for (int t = 0; t < ig.size(); t++) {
                    String targetName = qa ? ig.get(t).name() : "class";
                    JsonObject g = golden.getAsJsonObject(targetName);
                    String what = where + " " + targetName;
                    assertEquals(g.get("target_index").getAsInt(), ig.get(t).index(), what + " target index");
                    assertEquals(g.get("f_input").getAsDouble(), ig.get(t).fInput(), FORWARD, what + " F(x)");
                    assertEquals(g.get("f_baseline").getAsDouble(), ig.get(t).fBaseline(), FORWARD, what + " F(x')");
                    assertRelative(doubles(g.getAsJsonArray("ig_token_sum")), ig.get(t).igTokenSum(), IG_RELATIVE,
                            what + " integrated gradients");
                    if (conductance != null) {
                        JsonArray layers = g.getAsJsonArray("layer_conductance_token_sum_n400");
                        for (int l = 0; l < layers.size(); l++) {
                            assertRelative(doubles(layers.get(l).getAsJsonArray()),
                                    conductance.get(t).layerTokenSum()[l], CONDUCTANCE_RELATIVE,
                                    what + " conductance of layer " + l);
                        }
                    }
                }
            }
        }
    }

    private static List<TargetAttribution> attribute(Predictor p, TextInput input, AttributionOptions options) {
        try (Explainer e = new Explainer(p, options)) {
            return e.attribute(List.of(e.sample(input, null))).get(0).targets();
        }
    }

    private static void assertRelative(double[] expected, float[] actual, double bound, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        double diff = 0;
        double norm = 0;
        for (int i = 0; i < expected.length; i++) {
            diff += (expected[i] - actual[i]) * (expected[i] - actual[i]);
            norm += expected[i] * expected[i];
        }
        double relative = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-12);
        assertTrue(relative <= bound, what + ": relative L2 error " + relative + " > " + bound);
    }

    private static double[] doubles(JsonArray a) {
        double[] out = new double[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsDouble();
        }
        return out;
    }
}
