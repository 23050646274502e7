package io.attributionatlas.attribution.method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TinyModels;
import io.attributionatlas.model.TransformerModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Value Zeroing's batched layer passes equal brute force: a full forward pass of the sample for every layer and
 * token with that token's value vector zeroed in that layer, its layer output compared with the original's by
 * cosine distance; on the real model, the models of every family transformers saved (golden/hf, hf-next) and a
 * tiny random model of every registered family, within 1e-5.
 */
class ValueZeroingTest {

    @TempDir
    static Path tmp;

    @Test
    void batchedLayerPassesEqualFullPassesWithOneValueZeroed() throws Exception {
        List<Path> models = new ArrayList<>(List.of(Fixtures.realModel()));
        for (String golden : List.of("hf/bert-cls", "hf/roberta-cls", "hf/xlm-roberta-cls", "hf/albert-cls",
                "hf/deberta-v2-cls", "hf/modernbert-cls", "hf-next/mpnet-cls")) {
            models.add(Fixtures.golden(golden)); // the models transformers saved
        }
        for (EncoderFamily family : EncoderFamilies.all()) {
            models.add(TinyModels.write(tmp.resolve(family.modelType()), TinyModels.Spec.of(family,
                    Task.SEQUENCE_CLASSIFICATION)));
        }
        for (Path dir : models) {
            try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
                TransformerModel model = p.model();
                EncodedText text = p.tokenizer().encode("the movie was very good .");
                // passes of 3 copies: the budget's split of the S copies must not change a value
                float[][][] batched = ValueZeroing.distances(model, text, 3);
                float[][][] brute = bruteForce(model, text);
                assertEquals(model.config().numLayers(), batched.length);
                double worst = 0;
                for (int l = 0; l < batched.length; l++) {
                    for (int i = 0; i < text.length(); i++) {
                        for (int j = 0; j < text.length(); j++) {
                            worst = Math.max(worst, Math.abs(batched[l][i][j] - brute[l][i][j]));
                            assertTrue(batched[l][i][j] > -1e-5, "a cosine distance is not negative");
                        }
                    }
                }
                System.out.printf("value zeroing %s: %d layers, %d tokens, max |batched - brute force| %.2e%n",
                        dir.getFileName(), batched.length, text.length(), worst);
                assertTrue(worst <= 1e-5, dir + ": " + worst);
            }
        }
    }

    /**
     * The copies of samples of different lengths in shared, padded layer passes (of 5 rows, so passes span samples)
     * give each sample's distances alone, within 1e-5. (The normalised rows are compared no further: where all of a
     * token's distances are tiny, float32 rounding of 1e-7 moves its normalised shares by up to 1e-2.)
     */
    @Test
    void copiesOfSeveralSamplesShareLayerPasses() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
            List<EncodedText> texts = List.of(p.tokenizer().encode(
                    "the acting is bad and the plot is worse , but the music is fine ."), p.tokenizer().encode("bad ."),
                    p.tokenizer().encode("a charming journey ."));
            float[][][][] together = ValueZeroing.distances(p.model(), texts, 5);
            double worst = 0;
            for (int b = 0; b < texts.size(); b++) {
                float[][][] alone = ValueZeroing.distances(p.model(), texts.get(b), 64);
                for (int l = 0; l < alone.length; l++) {
                    for (int i = 0; i < alone[l].length; i++) {
                        for (int j = 0; j < alone[l].length; j++) {
                            worst = Math.max(worst, Math.abs(alone[l][i][j] - together[b][l][i][j]));
                        }
                    }
                }
            }
            System.out.printf("value zeroing: 3 samples in shared passes of 5 copies, max |together − alone| %.2e%n",
                    worst);
            assertTrue(worst <= 1e-5, "shared passes " + worst);
        }
    }

    /**
     * The method's scores, through the explainer on the real model: non-negative, summing to 1 (each layer's rows are
     * normalised and rolled out), the same for both targets, in one forward pass and a layer pass per layer.
     */
    @Test
    void scoresAreTheRolledOutSharesOfTheFirstToken() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                io.attributionatlas.attribution.Explainer e = new io.attributionatlas.attribution.Explainer(p,
                        io.attributionatlas.attribution.AttributionOptions.defaults().set("methods", "value_zeroing")
                                .set("target", "all").set("n_steps", "4"))) {
            io.attributionatlas.attribution.SampleAttribution s = e.attribute(List.of(e.sample(
                    new io.attributionatlas.model.TextInput("t", "a gorgeous, witty, seductive movie.", null), null)))
                    .get(0);
            assertEquals(2, s.targets().size());
            float[] first = null;
            for (io.attributionatlas.attribution.TargetAttribution t : s.targets()) {
                io.attributionatlas.attribution.MethodScores m = t.methods().get(ValueZeroing.NAME);
                double total = 0;
                for (float v : m.tokenAttributions()) {
                    assertTrue(v >= 0, "a share is not negative");
                    total += v;
                }
                assertEquals(1.0, total, 1e-5, "the first token's shares sum to 1");
                assertEquals(1 + 6, m.forwardPasses(), "one forward pass and one batched pass per layer");
                if (first != null) {
                    org.junit.jupiter.api.Assertions.assertArrayEquals(first, m.tokenAttributions(), "the same for every target");
                }
                first = m.tokenAttributions();
            }
        }
    }

    /** Per layer l and token j: a full forward pass with j's value vector zeroed in l; [l][i][j] = 1 − cos. */
    private static float[][][] bruteForce(TransformerModel model, EncodedText text) {
        int s = text.length();
        int layers = model.config().numLayers();
        float[][][] out = new float[layers][s][s];
        EncodedBatch one = EncodedBatch.ofTexts(List.of(text), model.config().padTokenId());
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult base = model.forward(one, new ForwardOptions().keepHiddenStates(), scope);
            for (int l = 0; l < layers; l++) {
                NDArray original = base.hiddenStates().get(l).get(0).toType(DataType.FLOAT32, false);
                for (int j = 0; j < s; j++) {
                    float[] keep = new float[s];
                    java.util.Arrays.fill(keep, 1f);
                    keep[j] = 0f;
                    ForwardResult zeroed = model.forward(one, new ForwardOptions().keepHiddenStates().valueKeep(l,
                            scope.create(keep, new Shape(1, s))), scope);
                    float[][] h = matrix(zeroed.hiddenStates().get(l).get(0).toType(DataType.FLOAT32, false));
                    float[][] o = matrix(original);
                    for (int i = 0; i < s; i++) {
                        out[l][i][j] = (float) (1 - cosine(h[i], o[i]));
                    }
                }
            }
        }
        return out;
    }

    /** A [rows, cols] float32 tensor on the host. */
    static float[][] matrix(NDArray a) {
        int rows = (int) a.getShape().get(0);
        int cols = (int) a.getShape().get(1);
        float[] flat = a.toFloatArray();
        float[][] m = new float[rows][cols];
        for (int r = 0; r < rows; r++) {
            System.arraycopy(flat, r * cols, m[r], 0, cols);
        }
        return m;
    }

    /** x·y / (‖x‖‖y‖) in float64. */
    static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int k = 0; k < a.length; k++) {
            dot += (double) a[k] * b[k];
            na += (double) a[k] * a[k];
            nb += (double) b[k] * b[k];
        }
        return dot / Math.sqrt(na * nb);
    }
}
