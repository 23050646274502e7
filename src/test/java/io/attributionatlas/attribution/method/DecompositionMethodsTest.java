package io.attributionatlas.attribution.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import io.attributionatlas.model.TransformerModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ALTI and DecompX: DecompX's parts sum to every layer's hidden state and to the logits less the bias part, on every
 * family it decomposes (the real model, the models transformers saved, tiny random models, classification and QA);
 * ALTI's contributions equal a direct computation from the weights, every row is a distribution, the rollout's too, and
 * an identity attention gives the identity; ModernBERT is refused by name.
 */
class DecompositionMethodsTest {

    @TempDir
    static Path tmp;

    private static List<Path> models(Task task) throws Exception {
        List<Path> models = new ArrayList<>();
        if (task == Task.SEQUENCE_CLASSIFICATION) {
            models.add(Fixtures.realModel());
            for (String golden : List.of("hf/bert-cls", "hf/roberta-cls", "hf/xlm-roberta-cls", "hf/albert-cls",
                    "hf/deberta-v2-cls", "hf-next/mpnet-cls")) {
                models.add(Fixtures.golden(golden));
            }
        } else {
            for (String golden : List.of("hf/roberta-qa", "hf/deberta-v2-qa", "hf-next/mpnet-qa")) {
                models.add(Fixtures.golden(golden));
            }
        }
        for (EncoderFamily family : EncoderFamilies.all()) {
            if (family.refusesDecomposition(DecompX.NAME) == null && family.refusesTask(task) == null) {
                models.add(TinyModels.write(tmp.resolve(family.modelType() + "-" + task), TinyModels.Spec.of(family,
                        task)));
            }
        }
        return models;
    }

    @Test
    void decompxPartsSumToEveryHiddenStateAndToTheLogits() throws Exception {
        for (Task task : List.of(Task.SEQUENCE_CLASSIFICATION, Task.QUESTION_ANSWERING)) {
            for (Path dir : models(task)) {
                for (DecompX.BiasSharing sharing : DecompX.BiasSharing.values()) {
                    try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
                        EncodedText text = p.tokenizer().encode("the movie was not very good , but the cast was .");
                        DecompX.Result r = DecompX.propagate(p.model(), List.of(text), sharing).get(0);
                        double worstLayer = r.layerError();
                        assertTrue(worstLayer <= 1e-4, dir + ": a layer's parts differ from its hidden state by "
                                + worstLayer + " of its largest value");
                        // per output: Σ tokens' parts (+ the bias part with separate) = the logit
                        double scale = 0;
                        for (float v : r.logits()) {
                            scale = Math.max(scale, Math.abs(v));
                        }
                        double worstLogit = 0;
                        int outputs = r.outputs();
                        int parts = text.length() + (sharing == DecompX.BiasSharing.SEPARATE ? 1 : 0);
                        assertEquals(parts * outputs, r.headParts().length);
                        for (int o = 0; o < outputs; o++) {
                            double sum = 0;
                            for (int k = 0; k < parts; k++) {
                                sum += r.headParts()[k * outputs + o];
                            }
                            worstLogit = Math.max(worstLogit, Math.abs(sum - r.logits()[o]));
                        }
                        System.out.printf("decompx %s %s %s: %d tokens, layers %.1e, logits %.1e (of %.2f)%n",
                                dir.getFileName(), task, sharing, text.length(), worstLayer, worstLogit, scale);
                        assertTrue(worstLogit <= 1e-4 * Math.max(1, scale), dir + ": logits " + worstLogit);
                        // each layer's row: the tokens' shares of the projection on h_i, with the bias part's, sum to 1
                        for (float[][] layer : r.layerMatrices()) {
                            for (float[] row : layer) {
                                for (float v : row) {
                                    assertTrue(Float.isFinite(v));
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /** Through the explainer: each class's scores are that class's token parts, so they differ between classes. */
    @Test
    void decompxScoresAreEachTargetsTokenParts() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer e = new Explainer(p, AttributionOptions.defaults().set("methods", "decompx,alti")
                        .set("target", "all").set("n_steps", "4"))) {
            SampleAttribution s = e.attribute(List.of(e.sample(new TextInput("t", "a gorgeous, witty, seductive movie.",
                    null), null))).get(0);
            DecompX.Result r = DecompX.propagate(p.model(), List.of(s.sample().encoding()),
                    DecompX.BiasSharing.ABSDOT).get(0);
            for (TargetAttribution t : s.targets()) {
                MethodScores m = t.methods().get(DecompX.NAME);
                double total = r.biasPart("class", t.index());
                for (int k = 0; k < m.tokenAttributions().length; k++) {
                    assertEquals(r.targetPart("class", t.index(), k), m.tokenAttributions()[k], 0f);
                    total += m.tokenAttributions()[k];
                }
                assertEquals(t.fInput(), total, 1e-4 * Math.max(1, Math.abs(t.fInput())),
                        "the tokens' parts make the logit F(x)");
                assertEquals(null, m.biasPart(), "absdot: no bias part");
                assertEquals(1, m.forwardPasses());
                assertEquals(6, m.layerMatrices().length);
                assertEquals(6, t.methods().get(Alti.NAME).headScores().length);
            }
            // explain --json: the per-layer matrices of both, ALTI's head mass
            com.google.gson.JsonObject methods = io.attributionatlas.report.ExplanationJson.of(s, AttributionOptions
                    .defaults().set("methods", "decompx,alti")).getAsJsonArray("targets").get(0).getAsJsonObject()
                    .getAsJsonObject("methods");
            for (String name : List.of(DecompX.NAME, Alti.NAME)) {
                com.google.gson.JsonArray layers = methods.getAsJsonObject(name).getAsJsonArray("layer_matrices");
                assertEquals(6, layers.size());
                assertEquals(s.sample().length(), layers.get(0).getAsJsonArray().size());
            }
            assertEquals(6, methods.getAsJsonObject(Alti.NAME).getAsJsonArray("head_importance").size());
            // DecompX's per-layer part norms (the authors' output) beside its summary; AbsDot leaves no bias part
            assertEquals(6, methods.getAsJsonObject(DecompX.NAME).getAsJsonArray("layer_part_norms").size());
            assertTrue(!methods.getAsJsonObject(DecompX.NAME).has("bias_part"));
            // explain --html: each method's token scores, ALTI's head mass, both methods' per-layer matrices
            String page = io.attributionatlas.report.ExplanationPage.render(s, AttributionOptions.defaults(),
                    p.model().config());
            for (String part : List.of("Method decompx per token", "Method alti per token", "alti per head",
                    "decompx: per-layer token-to-token contributions (6 layers)", "alti, layer 5 (row: receives",
                    "decompx: per-layer norm of each token's part")) {
                assertTrue(page.contains(part), part);
            }
            float[] first = s.targets().get(0).methods().get(DecompX.NAME).tokenAttributions();
            float[] second = s.targets().get(1).methods().get(DecompX.NAME).tokenAttributions();
            assertTrue(!java.util.Arrays.equals(first, second), "each class has its own parts");
        }
    }

    /** With decompx_bias=separate the bias part is kept and written: the tokens' parts and it make each logit. */
    @Test
    void decompxSeparateBiasPartIsWritten() throws Exception {
        AttributionOptions options = AttributionOptions.defaults().set("methods", "decompx").set("target", "all")
                .set("n_steps", "4").set("decompx_bias", "separate");
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer e = new Explainer(p, options)) {
            SampleAttribution s = e.attribute(List.of(e.sample(new TextInput("t", "a gorgeous, witty, seductive movie.",
                    null), null))).get(0);
            com.google.gson.JsonArray targets = io.attributionatlas.report.ExplanationJson.of(s, options)
                    .getAsJsonArray("targets");
            for (int i = 0; i < s.targets().size(); i++) {
                TargetAttribution t = s.targets().get(i);
                MethodScores m = t.methods().get(DecompX.NAME);
                double total = m.biasPart();
                for (float v : m.tokenAttributions()) {
                    total += v;
                }
                assertEquals(t.fInput(), total, 1e-4 * Math.max(1, Math.abs(t.fInput())), "tokens + bias part = F(x)");
                assertEquals(m.biasPart(), targets.get(i).getAsJsonObject().getAsJsonObject("methods")
                        .getAsJsonObject(DecompX.NAME).get("bias_part").getAsFloat(), 0f);
            }
            assertTrue(io.attributionatlas.report.ExplanationPage.render(s, options, p.model().config())
                    .contains("Bias part"));
        }
    }

    @Test
    void altiRowsAreDistributionsAndRollOut() throws Exception {
        List<Path> models = new ArrayList<>(models(Task.SEQUENCE_CLASSIFICATION));
        models.add(Fixtures.golden("hf/modernbert-cls")); // pre-norm
        for (Path dir : models) {
            try (Predictor p = Predictor.open(dir, null, Device.cpu());
                    Explainer e = new Explainer(p, AttributionOptions.defaults().set("methods", "alti")
                            .set("n_steps", "4"))) {
                SampleAttribution s = e.attribute(List.of(e.sample(new TextInput("t",
                        "the movie was not very good , but the cast was .", null), null))).get(0);
                MethodScores m = s.targets().get(0).methods().get(Alti.NAME);
                int n = s.sample().length();
                double[][] rollout = identity(n);
                for (float[][] layer : m.layerMatrices()) {
                    for (float[] row : layer) {
                        double sum = 0;
                        for (float v : row) {
                            assertTrue(v >= 0, dir + ": a contribution is not negative");
                            sum += v;
                        }
                        assertEquals(1, sum, 1e-5, dir + ": a layer's row sums to 1");
                    }
                    rollout = multiply(layer, rollout);
                }
                for (double[] row : rollout) {
                    assertEquals(1, java.util.Arrays.stream(row).sum(), 1e-5, "a rollout row sums to 1");
                }
                double total = 0;
                boolean mean = p.model().config().family().poolsMean(p.model().config());
                for (int j = 0; j < n; j++) {
                    double expected = rollout[0][j];
                    if (mean) {
                        final int column = j;
                        expected = java.util.Arrays.stream(rollout).mapToDouble(row -> row[column]).average()
                                .orElseThrow();
                    }
                    assertEquals(expected, m.tokenAttributions()[j], 1e-5, "the rollout row of the pooled token");
                    total += m.tokenAttributions()[j];
                }
                assertEquals(1, total, 1e-5);
                for (float[] heads : m.headScores()) {
                    for (float mass : heads) {
                        assertTrue(mass >= 0 && Float.isFinite(mass), dir + ": head mass " + mass);
                    }
                }
            }
        }
    }

    /** One layer of the real model: the tensor computation equals the definition evaluated directly in doubles. */
    @Test
    void altiEqualsItsDefinitionComputedDirectly() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                NDManager scope = p.model().manager().newSubManager()) {
            TransformerModel model = p.model();
            EncodedText text = p.tokenizer().encode("the acting is bad .");
            LayerContributions.Internals in = LayerContributions.Internals.of(model, List.of(text), scope);
            int layer = 2;
            Alti.AttentionBlock block = Alti.AttentionBlock.of(model, layer, scope, false); // alti_value_bias=none
            NDArray[] tensors = Alti.contributions(block, in.layerInputs().get(layer), in.attentions().get(layer),
                    in.mask(), null);
            float[][] direct = direct(model, layer, matrix(in.layerInputs().get(layer).get(0)), in.attentions()
                    .get(layer).toFloatArray(), text.length());
            float[] computed = tensors[0].toFloatArray();
            double worst = 0;
            double largest = 0;
            for (int i = 0; i < text.length(); i++) {
                for (int j = 0; j < text.length(); j++) {
                    worst = Math.max(worst, Math.abs(computed[i * text.length() + j] - direct[i][j]));
                    largest = Math.max(largest, direct[i][j]);
                }
            }
            System.out.printf("alti layer %d: max |tensor − direct| %.2e of %.2f%n", layer, worst, largest);
            assertTrue(worst <= 1e-4 * largest, "worst " + worst);
        }
    }

    /** A layer whose attention is the identity: every token contributes only to itself. */
    @Test
    void altiOfAnIdentityAttentionIsTheIdentity() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                NDManager scope = p.model().manager().newSubManager()) {
            EncodedText text = p.tokenizer().encode("a charming journey .");
            LayerContributions.Internals in = LayerContributions.Internals.of(p.model(), List.of(text), scope);
            int s = text.length();
            NDArray identity = scope.eye(s).expandDims(0).repeat(0, p.model().config().numHeads()).expandDims(0);
            NDArray c = Alti.contributions(Alti.AttentionBlock.of(p.model(), 0, scope, true), in.layerInputs().get(0),
                    identity, in.mask(), null)[0];
            float[] normalised = LayerContributions.normaliseRows(c.expandDims(0)).toFloatArray();
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < s; j++) {
                    assertEquals(i == j ? 1f : 0f, normalised[i * s + j], 1e-6f, i + "," + j);
                }
            }
        }
    }

    /**
     * Samples of different lengths decomposed in one padded pass, and in passes of two (a budget of 2 rows), give what
     * each gets alone: scores, head mass and per-layer matrices, for ALTI and DecompX (both targets); Value Zeroing's
     * batched distances are tested in {@link ValueZeroingTest}.
     */
    @Test
    void batchedSamplesEqualEachAlone() throws Exception {
        List<String> sentences = List.of("a gorgeous, witty, seductive movie.", "bad .",
                "the acting is bad and the plot is worse , but the music is fine .", "it's a charming journey .");
        for (String rows : List.of("16", "2")) {
            try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
                AttributionOptions options = AttributionOptions.defaults().set("internal_batch_size", rows);
                List<EncodedText> texts = sentences.stream().map(t -> p.tokenizer().encode(t)).toList();
                io.attributionatlas.attribution.AttributionMethod.MethodContext context =
                        new io.attributionatlas.attribution.AttributionMethod.MethodContext(options, 0);
                for (io.attributionatlas.attribution.AttributionMethod m : List.of(new Alti(), new DecompX())) {
                    List<io.attributionatlas.attribution.AttributionMethod.Decomposition> together = m.decompose(
                            p.model(), texts, context);
                    double worst = 0;
                    for (int i = 0; i < texts.size(); i++) {
                        io.attributionatlas.attribution.AttributionMethod.Decomposition alone = m.decompose(p.model(),
                                List.of(texts.get(i)), context).get(0);
                        for (int target = 0; target < 2; target++) {
                            MethodScores a = together.get(i).forTarget("class", target);
                            MethodScores b = alone.forTarget("class", target);
                            assertEquals(texts.get(i).length(), a.tokenAttributions().length);
                            worst = Math.max(worst, maxDifference(a.tokenAttributions(), b.tokenAttributions()));
                            for (int l = 0; l < a.layerMatrices().length; l++) {
                                for (int r = 0; r < a.layerMatrices()[l].length; r++) {
                                    worst = Math.max(worst, maxDifference(a.layerMatrices()[l][r],
                                            b.layerMatrices()[l][r]));
                                }
                                if (a.headScores() != null) {
                                    worst = Math.max(worst, maxDifference(a.headScores()[l], b.headScores()[l]));
                                }
                            }
                        }
                    }
                    System.out.printf("%s: %d samples in passes of at most %s, max |together − alone| %.2e%n",
                            m.name(), texts.size(), rows, worst);
                    assertTrue(worst <= 1e-5, m.name() + ": " + worst);
                }
            }
        }
    }

    /** Parts in chunks of 3 through all layers (as at long lengths) give what all parts at once give. */
    @Test
    void decompxChunksOfPartsEqualAllAtOnce() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
            List<EncodedText> texts = List.of(p.tokenizer().encode("the acting is bad and the plot is worse ."),
                    p.tokenizer().encode("a charming journey ."));
            for (DecompX.BiasSharing sharing : DecompX.BiasSharing.values()) {
                List<DecompX.Result> whole = DecompX.propagate(p.model(), texts, sharing);
                long threeParts = 3L * texts.size() * texts.get(0).length() * p.model().config().intermediateSize();
                List<DecompX.Result> chunked = DecompX.propagate(p.model(), texts, new DecompX.Definition(sharing,
                        false), threeParts);
                double worst = 0;
                for (int b = 0; b < texts.size(); b++) {
                    worst = Math.max(worst, maxDifference(whole.get(b).headParts(), chunked.get(b).headParts()));
                    for (int l = 0; l < whole.get(b).layerMatrices().length; l++) {
                        for (int i = 0; i < texts.get(b).length(); i++) {
                            worst = Math.max(worst, maxDifference(whole.get(b).layerMatrices()[l][i],
                                    chunked.get(b).layerMatrices()[l][i]));
                        }
                    }
                    assertTrue(chunked.get(b).layerError() <= 1e-4, "completeness in chunks "
                            + chunked.get(b).layerError());
                }
                System.out.printf("decompx %s in chunks of 3 parts: max |chunked − whole| %.2e%n", sharing, worst);
                assertTrue(worst <= 1e-6, "chunks " + worst);
            }
        }
    }

    private static double maxDifference(float[] a, float[] b) {
        assertEquals(a.length, b.length);
        double worst = 0;
        for (int k = 0; k < a.length; k++) {
            worst = Math.max(worst, Math.abs(a[k] - b[k]));
        }
        return worst;
    }

    /** DecompX refuses ModernBERT by name (GeGLU); ALTI decomposes its pre-norm layers. */
    @Test
    void modernBertDecompXIsRefusedByNameAndAltiRuns() throws Exception {
        Path dir = TinyModels.write(tmp.resolve("modernbert-refused"), TinyModels.Spec.of(EncoderFamilies.of(
                "modernbert"), Task.SEQUENCE_CLASSIFICATION));
        try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Explainer(p,
                    AttributionOptions.defaults().set("methods", "decompx")));
            assertTrue(e.getMessage().contains("method decompx cannot explain this modernbert model")
                    && e.getMessage().contains("GeGLU"), e.getMessage());
            try (Explainer alti = new Explainer(p, AttributionOptions.defaults().set("methods", "alti"))) {
                MethodScores m = alti.attribute(List.of(alti.sample(new TextInput("t", "a charming journey .", null),
                        null))).get(0).targets().get(0).methods().get(Alti.NAME);
                double total = 0;
                for (float v : m.tokenAttributions()) {
                    assertTrue(v >= 0);
                    total += v;
                }
                assertEquals(1, total, 1e-5, "ALTI's shares on a pre-norm model sum to 1");
            }
        }
    }

    /**
     * c_ij = max(0, ‖x̃_i‖₁ − ‖x̃_i − L_i(T_i(x_j))‖₁) from the weights, in doubles: T_i(x_j) = Σ_h A^h_ij x_j W_V^h
     * W_O^h (+ x_i at j = i), x̃_i the layer norm of Σ_j T_i(x_j) + b_V W_O + b_O.
     */
    private static float[][] direct(TransformerModel model, int layer, float[][] x, float[] attention, int s) {
        int d = x[0].length;
        int heads = model.config().numHeads();
        int dh = d / heads;
        float[][] wv = matrix(model.layerParameter(layer, LayerRole.VALUE_W));
        float[] bv = model.layerParameter(layer, LayerRole.VALUE_B).toFloatArray();
        float[][] wo = matrix(model.layerParameter(layer, LayerRole.ATTN_OUT_W));
        float[] bo = model.layerParameter(layer, LayerRole.ATTN_OUT_B).toFloatArray();
        float[] gamma = model.layerParameter(layer, LayerRole.ATTN_NORM_W).toFloatArray();
        float[] beta = model.layerParameter(layer, LayerRole.ATTN_NORM_B).toFloatArray();
        // per head and token j: x_j W_V^h W_O^h  [h][j][d]
        double[][][] vo = new double[heads][s][d];
        for (int j = 0; j < s; j++) {
            double[] v = new double[d];
            for (int o = 0; o < d; o++) {
                for (int k = 0; k < d; k++) {
                    v[o] += (double) wv[o][k] * x[j][k];
                }
            }
            for (int h = 0; h < heads; h++) {
                for (int o = 0; o < d; o++) {
                    for (int c = h * dh; c < (h + 1) * dh; c++) {
                        vo[h][j][o] += (double) wo[o][c] * v[c];
                    }
                }
            }
        }
        double[] bias = new double[d];
        for (int o = 0; o < d; o++) {
            bias[o] = bo[o];
            for (int c = 0; c < d; c++) {
                bias[o] += (double) wo[o][c] * bv[c];
            }
        }
        float[][] out = new float[s][s];
        double eps = model.config().layerNormEps();
        for (int i = 0; i < s; i++) {
            double[][] t = new double[s][d];
            double[] r = bias.clone();
            for (int j = 0; j < s; j++) {
                for (int o = 0; o < d; o++) {
                    for (int h = 0; h < heads; h++) {
                        t[j][o] += attention[(h * s + i) * s + j] * vo[h][j][o];
                    }
                    if (i == j) {
                        t[j][o] += x[i][o];
                    }
                    r[o] += t[j][o];
                }
            }
            double mean = java.util.Arrays.stream(r).average().orElseThrow();
            double var = java.util.Arrays.stream(r).map(v -> (v - mean) * (v - mean)).average().orElseThrow();
            double sigma = Math.sqrt(var + eps);
            double[] xt = new double[d];
            double xtNorm = 0;
            for (int o = 0; o < d; o++) {
                xt[o] = gamma[o] * (r[o] - mean) / sigma + beta[o];
                xtNorm += Math.abs(xt[o]);
            }
            for (int j = 0; j < s; j++) {
                double tm = java.util.Arrays.stream(t[j]).average().orElseThrow();
                double dist = 0;
                for (int o = 0; o < d; o++) {
                    dist += Math.abs(xt[o] - gamma[o] * (t[j][o] - tm) / sigma);
                }
                out[i][j] = (float) Math.max(0, xtNorm - dist);
            }
        }
        return out;
    }

    private static float[][] matrix(NDArray a) {
        return ValueZeroingTest.matrix(a.toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
    }

    private static double[][] identity(int n) {
        double[][] m = new double[n][n];
        for (int i = 0; i < n; i++) {
            m[i][i] = 1;
        }
        return m;
    }

    private static double[][] multiply(float[][] a, double[][] b) {
        int n = b.length;
        double[][] out = new double[n][n];
        for (int i = 0; i < n; i++) {
            for (int k = 0; k < n; k++) {
                for (int j = 0; j < n; j++) {
                    out[i][j] += a[i][k] * b[k][j];
                }
            }
        }
        return out;
    }
}
