package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.Fixtures;
import io.attributionatlas.analysis.HeadSimilarityReference;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The head × head Jensen–Shannon similarity reduced on the model's device equals the host reference (the first
 * implementation, in double precision, from each sample's attention maps) within 1e-5 relative: on the real model
 * and every golden family, in padded batches of mixed lengths, in blocks of any size, and with a non-finite sample
 * in the batch, whose values are its own only.
 */
class HeadSimilarityTest {

    @TempDir
    static Path tmp;

    static Stream<Path> models() throws Exception {
        List<Path> models = new ArrayList<>(List.of(Fixtures.realModel()));
        GpuEqualsCpuTest.modelDirectories().forEach(models::add);
        return models.stream();
    }

    static List<TextInput> texts(Path model) throws Exception {
        List<TextInput> texts = new ArrayList<>();
        if (model.equals(Fixtures.realModel())) {
            List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"));
            StringBuilder joined = new StringBuilder();
            for (String line : lines.subList(1, 9)) {
                String sentence = line.substring(0, line.lastIndexOf(',')).replace("\"", "");
                texts.add(new TextInput("s" + texts.size(), sentence, null));
                joined.append(sentence).append(' ');
            }
            texts.add(new TextInput("long", joined.toString(), null)); // about 170 tokens beside 8 to 40
            return texts;
        }
        texts.add(new TextInput("a", "the movie was good", "who was good ?"));
        texts.add(new TextInput("b", "a bad plot , bad acting and a very long story", "what was bad ?"));
        texts.add(new TextInput("c", "fine", "is it fine ?"));
        return texts;
    }

    static List<SampleAttribution> explain(Path model, AttributionOptions options, List<TextInput> texts) {
        try (Predictor p = Predictor.open(model, null, Device.cpu()); Explainer e = new Explainer(p, options)) {
            boolean pairs = p.model().config().task() == Task.QUESTION_ANSWERING;
            return e.attribute(texts.stream().map(t -> e.sample(pairs ? t : new TextInput(t.id(), t.text(), null),
                    null)).toList());
        }
    }

    static AttributionOptions similarity() {
        return AttributionOptions.defaults().analyses(Set.of(Analysis.ATTENTION)).headSimilarityRate(1);
    }

    /** Every pair x < y within 1e-5 relative (1e-7 absolute near 0) of the reference on the sample's maps. */
    static void assertEqualsReference(SampleAttribution s, String where) {
        double[] expected = HeadSimilarityReference.meanDistances(s.attentions());
        float[] actual = s.headSimilarity();
        assertEquals(expected.length, actual.length, where);
        int p = (int) Math.round(Math.sqrt(expected.length));
        for (int x = 0; x < p; x++) {
            for (int y = x + 1; y < p; y++) {
                double e = expected[x * p + y];
                assertTrue(e >= 0 && e <= 1, where + " distance in [0, 1]: " + e);
                assertEquals(e, actual[x * p + y], 1e-5 * e + 1e-7, where + " heads " + x + ", " + y);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void theDeviceReductionEqualsTheHostReference(Path model) throws Exception {
        List<TextInput> texts = texts(model);
        List<SampleAttribution> batched = explain(model, similarity(), texts);
        for (SampleAttribution s : batched) {
            assertEqualsReference(s, model.getFileName() + " " + s.sample().input().id());
        }
        // The longest sample alone, unpadded: the same values as in the padded batch.
        SampleAttribution alone = explain(model, similarity(), List.of(texts.get(texts.size() - 1))).get(0);
        float[] inBatch = batched.get(batched.size() - 1).headSimilarity();
        for (int i = 0; i < inBatch.length; i++) {
            assertEquals(alone.headSimilarity()[i], inBatch[i], 1e-6, model.getFileName() + " alone vs batched");
        }
        assertNull(explain(model, AttributionOptions.defaults().analyses(Set.of(Analysis.ATTENTION)), texts).get(0)
                .headSimilarity(), "only when requested");
        // A share of the samples: chosen by their tokens, the same whatever the batch.
        List<SampleAttribution> half = explain(model, similarity().headSimilarityRate(0.5), texts);
        for (int k = 0; k < texts.size(); k++) {
            boolean chosen = HeadSimilarity.chosen(half.get(k).sample().encoding(), 0.5);
            assertEquals(chosen, half.get(k).headSimilarity() != null, "sample " + k + " chosen by its tokens");
            if (chosen) {
                assertEquals(batched.get(k).headSimilarity()[1], half.get(k).headSimilarity()[1], 1e-7);
            }
        }
    }

    /** Blocks of one to all head pairs, over a padded batch of random maps: the same values as the reference. */
    @Test
    void blocksOfAnySizeGiveTheSameValues() {
        int layers = 3;
        int heads = 4;
        int seq = 9;
        int[] lengths = {9, 5, 2};
        Random random = new Random(5);
        try (NDManager manager = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            List<NDArray> attentions = new ArrayList<>();
            float[][][][][] maps = new float[lengths.length][layers][heads][][];
            for (int l = 0; l < layers; l++) {
                float[] values = new float[lengths.length * heads * seq * seq];
                for (int b = 0; b < lengths.length; b++) {
                    for (int h = 0; h < heads; h++) {
                        maps[b][l][h] = new float[lengths[b]][lengths[b]];
                        for (int i = 0; i < seq; i++) {
                            double total = 0;
                            double[] row = new double[seq];
                            for (int k = 0; k < lengths[b]; k++) { // padded keys get 0, as the model gives them
                                row[k] = k > 0 && random.nextInt(4) == 0 ? 0 : Math.exp(3 * random.nextGaussian());
                                total += row[k];
                            }
                            for (int k = 0; k < seq; k++) {
                                float v = (float) (row[k] / total);
                                values[((b * heads + h) * seq + i) * seq + k] = v;
                                if (i < lengths[b] && k < lengths[b]) {
                                    maps[b][l][h][i][k] = v;
                                }
                            }
                        }
                    }
                }
                attentions.add(manager.create(values, new Shape(lengths.length, heads, seq, seq)));
            }
            int p = layers * heads;
            for (long blockBytes : new long[] {1, 3L * 81 * Double.BYTES, 40L * 81 * Double.BYTES, Long.MAX_VALUE}) {
                HostTransfer transfer = new HostTransfer();
                List<List<HeadSimilarity.Block>> at = new ArrayList<>();
                for (int b = 0; b < lengths.length; b++) {
                    at.add(HeadSimilarity.add(attentions, b, lengths[b], blockBytes, transfer));
                }
                HostTransfer.Fetched host = transfer.fetch();
                for (int b = 0; b < lengths.length; b++) {
                    float[] actual = HeadSimilarity.read(at.get(b), host, p);
                    double[] expected = HeadSimilarityReference.meanDistances(maps[b]);
                    for (int x = 0; x < p; x++) {
                        for (int y = 0; y < p; y++) {
                            double e = y > x ? expected[x * p + y] : 0;
                            assertEquals(e, actual[x * p + y], 1e-5 * e + 1e-7, "blocks of " + blockBytes
                                    + " bytes, sample " + b + ", heads " + x + ", " + y);
                        }
                    }
                }
            }
        }
    }

    @Test
    void aRateChoosesThatShareOfSamplesAndAutoIsAllOnAGpuOnly() {
        int chosen = 0;
        for (int i = 0; i < 10_000; i++) {
            io.attributionatlas.model.EncodedText text = new io.attributionatlas.model.EncodedText(new long[] {101, i,
                102}, new long[3], new String[3], new boolean[3], new int[3], new int[3], false);
            chosen += HeadSimilarity.chosen(text, 0.1) ? 1 : 0;
        }
        assertEquals(1_000, chosen, 100, "a tenth of 10,000 token sequences");
        AttributionOptions auto = similarity().headSimilarityRate(AttributionOptions.AUTO_RATE);
        assertEquals(AttributionOptions.CPU_HEAD_SIMILARITY_RATE, auto.headSimilarityRate(Device.cpu()));
        assertEquals(1, auto.headSimilarityRate(Device.gpu()));
        assertEquals(0, AttributionOptions.defaults().analyses(Set.of(Analysis.NORMS)).headSimilarityRate(1)
                .headSimilarityRate(Device.cpu()), "no attention, no similarity");
    }

    @Test
    void aNonFiniteSampleSpoilsOnlyItsOwnValues() throws Exception {
        TinyModels.Spec spec = TinyModels.Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION)
                .withWeightScale(0.15);
        Path model = TinyModels.write(tmp.resolve("tiny"), spec);
        Path poisoned = TinyModels.write(tmp.resolve("poisoned"), spec);
        TinyModels.poisonToken(poisoned, spec, "c");
        List<TextInput> texts = List.of(TextInput.of("the movie was very good ."), TextInput.of("a b c"),
                TextInput.of("bad plot , bad acting and a very long story"));
        List<SampleAttribution> whole = explain(model, similarity(), texts);
        for (int k = 0; k < texts.size(); k++) {
            assertEqualsReference(whole.get(k), "tiny " + k);
        }
        List<SampleAttribution> spoiled = explain(poisoned, similarity(), texts);
        boolean anyNaN = false;
        for (float v : spoiled.get(1).headSimilarity()) {
            anyNaN |= Float.isNaN(v);
        }
        assertTrue(anyNaN, "the poisoned sample's own values are not finite");
        for (int k : new int[] {0, 2}) {
            float[] clean = explain(poisoned, similarity(), List.of(texts.get(k))).get(0).headSimilarity();
            float[] beside = spoiled.get(k).headSimilarity();
            for (int i = 0; i < clean.length; i++) {
                assertFalse(Float.isNaN(beside[i]), "sample " + k + " beside the poisoned one");
                assertEquals(clean[i], beside[i], 1e-6, "sample " + k + " beside the poisoned one");
            }
        }
    }
}
