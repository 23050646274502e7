package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.analysis.Correlation;
import io.attributionatlas.analysis.HeadMetricsReference;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The per-head statistics reduced on the model's device ({@link HeadReductions}) equal the host reference (the first
 * implementation, looping over each sample's copied matrices in double precision) within 1e-5 relative: on the real
 * model and every golden family, in padded batches of mixed lengths; a sample whose matrices stay on the device gets
 * the same statistics; a non-finite sample spoils only its own.
 */
class HeadReductionsTest {

    @TempDir
    static Path tmp;

    static java.util.stream.Stream<Path> models() throws Exception {
        return HeadSimilarityTest.models();
    }

    /** Everything that has per-head statistics; gradients where the model has an output to attribute. */
    static AttributionOptions everything(Path model) {
        try (Predictor p = Predictor.open(model, null, Device.cpu())) {
            return AttributionOptions.defaults().analyses(p.model().config().task() == Task.ENCODER
                    ? Set.of(Analysis.ATTENTION, Analysis.NORMS)
                    : Set.of(Analysis.ATTENTION, Analysis.NORMS, Analysis.ATTENTION_CONDUCTANCE));
        }
    }

    static List<SampleAttribution> explain(Path model, AttributionOptions options, List<TextInput> texts,
            boolean matrices) {
        try (Predictor p = Predictor.open(model, null, Device.cpu()); Explainer e = new Explainer(p, options)) {
            boolean pairs = p.model().config().task() == Task.QUESTION_ANSWERING;
            List<Sample> samples = new ArrayList<>();
            for (int k = 0; k < texts.size(); k++) {
                TextInput t = texts.get(k);
                Sample s = e.sample(pairs ? t : new TextInput(t.id(), t.text(), null), null);
                samples.add(matrices || k % 2 == 0 ? s : s.withoutMatrices()); // every other one without
            }
            return e.attribute(samples);
        }
    }

    static void close(double expected, double actual, String where) {
        assertEquals(expected, actual, 1e-5 * Math.abs(expected) + 1e-6, where);
    }

    static void close(float[][] expected, float[][] actual, String where) {
        assertEquals(expected.length, actual.length, where);
        for (int l = 0; l < expected.length; l++) {
            for (int h = 0; h < expected[l].length; h++) {
                close(expected[l][h], actual[l][h], where + " layer " + l + " head " + h);
            }
        }
    }

    /** Every statistic of a sample with matrices against the reference computed from those matrices. */
    static void assertEqualsReference(SampleAttribution s, String where) {
        EncodedText e = s.sample().encoding();
        Map<String, float[][]> expected = new HashMap<>();
        expected.putAll(HeadMetricsReference.categories("attn_", s.attentions(), e, false));
        expected.putAll(HeadMetricsReference.entropies(s.attentions()));
        expected.putAll(HeadMetricsReference.categories("norm_", s.normAlphaFx(), e, false));
        assertEquals(expected.keySet(), s.headMetrics().keySet(), where);
        expected.forEach((name, values) -> close(values, s.headMetrics().get(name), where + " " + name));
        for (TargetAttribution t : s.targets()) {
            float[][][][] c = t.attentionConductance();
            HeadConductance heads = t.headConductance();
            String at = where + " target " + t.name() + " " + t.index();
            Map<String, float[][]> cond = new HashMap<>();
            cond.putAll(HeadMetricsReference.categories("cond_", c, e, false));
            cond.putAll(HeadMetricsReference.categories("cond_abs_", c, e, true));
            assertEquals(cond.keySet(), heads.categories().keySet(), at);
            cond.forEach((name, values) -> close(values, heads.categories().get(name), at + " " + name));
            int n = e.length();
            for (int l = 0; l < c.length; l++) {
                for (int h = 0; h < c[l].length; h++) {
                    String head = at + " layer " + l + " head " + h;
                    Correlation reference = HeadMetricsReference.correlation(s.attentions()[l][h], c[l][h]);
                    Correlation device = new Correlation();
                    float[] m = heads.moments()[l][h];
                    device.addMoments((long) n * n, m[0], m[1], m[2], m[3], m[4]);
                    device.addSample(Correlation.ofMoments((long) n * n, m[2], m[3], m[4]));
                    assertEquals(reference.pooled(), device.pooled(), 1e-5, head + " pooled r");
                    assertEquals(reference.sampleMean(), device.sampleMean(), 1e-5, head + " sample r");
                    double mass = 0;
                    for (float[] row : c[l][h]) {
                        for (float v : row) {
                            mass += v;
                        }
                    }
                    close(mass, heads.mass(l, h, n), head + " mass");
                    int[] pairs = heads.pairs()[l][h];
                    int[] top = HeadMetricsReference.topPairs(c[l][h], HeadReductions.RELATION_PAIRS);
                    assertEquals(top.length, pairs.length, head + " pairs");
                    for (int p = 0; p < pairs.length; p++) {
                        float value = c[l][h][pairs[p] / n][pairs[p] % n];
                        assertEquals(value, heads.pairValues()[l][h][p], 0f, head + " the pair's own value");
                        // the same magnitudes in the same order (ties may pick different pairs)
                        assertEquals(Math.abs(c[l][h][top[p] / n][top[p] % n]), Math.abs(value), 0f,
                                head + " rank " + p);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("models")
    void theDeviceReductionsEqualTheHostReference(Path model) throws Exception {
        List<TextInput> texts = HeadSimilarityTest.texts(model);
        AttributionOptions options = everything(model);
        List<SampleAttribution> all = explain(model, options, texts, true);
        for (SampleAttribution s : all) {
            assertEqualsReference(s, model.getFileName() + " " + s.sample().input().id());
        }
        // Every other sample without its matrices: none on the host, the same statistics.
        List<SampleAttribution> mixed = explain(model, options, texts, false);
        for (int k = 0; k < texts.size(); k++) {
            SampleAttribution a = all.get(k);
            SampleAttribution b = mixed.get(k);
            String where = model.getFileName() + " " + a.sample().input().id();
            if (k % 2 == 1) {
                assertNull(b.attentions(), where);
                assertNull(b.normAlphaFx(), where);
                b.targets().forEach(t -> assertNull(t.attentionConductance(), where));
            } else {
                assertNotNull(b.attentions(), where);
            }
            a.headMetrics().forEach((name, v) -> close(v, b.headMetrics().get(name), where + " " + name));
            for (int t = 0; t < a.targets().size(); t++) {
                HeadConductance x = a.targets().get(t).headConductance();
                HeadConductance y = b.targets().get(t).headConductance();
                x.categories().forEach((name, v) -> close(v, y.categories().get(name), where + " " + name));
                assertArrayEquals(x.pairs()[0][0], y.pairs()[0][0], where + " pairs");
            }
        }
        // The longest sample alone, unpadded: the same values as in the padded batch.
        SampleAttribution alone = explain(model, options, List.of(texts.get(texts.size() - 1)), true).get(0);
        SampleAttribution batched = all.get(all.size() - 1);
        alone.headMetrics().forEach((name, v) -> close(v, batched.headMetrics().get(name), "alone vs batched " + name));
    }

    @Test
    void aNonFiniteSampleSpoilsOnlyItsOwnStatistics() throws Exception {
        TinyModels.Spec spec = TinyModels.Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION)
                .withWeightScale(0.15);
        Path poisoned = TinyModels.write(tmp.resolve("poisoned"), spec);
        TinyModels.poisonToken(poisoned, spec, "c");
        List<TextInput> texts = List.of(TextInput.of("the movie was very good ."), TextInput.of("a b c"),
                TextInput.of("bad plot , bad acting and a very long story"));
        AttributionOptions options = everything(poisoned);
        List<SampleAttribution> spoiled = explain(poisoned, options, texts, false);
        assertTrue(Float.isNaN(spoiled.get(1).headMetrics().get("entropy")[0][0])
                || Float.isNaN(spoiled.get(1).targets().get(0).headConductance().moments()[0][0][1]),
                "the poisoned sample's own statistics are not finite");
        for (int k : new int[] {0, 2}) {
            SampleAttribution clean = explain(poisoned, options, List.of(texts.get(k)), true).get(0);
            SampleAttribution beside = spoiled.get(k);
            assertEqualsReference(clean, "alone " + k);
            clean.headMetrics().forEach((name, v) -> {
                for (float[] row : beside.headMetrics().get(name)) {
                    for (float x : row) {
                        assertFalse(Float.isNaN(x), "sample " + k + " beside the poisoned one: " + name);
                    }
                }
                close(v, beside.headMetrics().get(name), "sample " + k + " beside the poisoned one: " + name);
            });
            float[][][] moments = clean.targets().get(0).headConductance().moments();
            float[][][] besideMoments = beside.targets().get(0).headConductance().moments();
            for (int l = 0; l < moments.length; l++) {
                for (int h = 0; h < moments[l].length; h++) {
                    for (int m = 0; m < HeadReductions.MOMENTS; m++) {
                        close(moments[l][h][m], besideMoments[l][h][m], "sample " + k + " moments");
                    }
                }
            }
        }
    }

    /** Layers reduced one group at a time, whatever the groups' size: the same values as one layer at a time. */
    @Test
    void groupsOfAnySizeGiveTheSameValues() {
        int layers = 3;
        int heads = 4;
        int seq = 9;
        Random random = new Random(3);
        List<EncodedText> texts = new ArrayList<>();
        for (int n : new int[] {9, 5, 2}) {
            boolean[] special = new boolean[n];
            special[0] = true;
            special[n - 1] = true;
            String[] tokens = new String[n];
            java.util.Arrays.fill(tokens, "w");
            tokens[n / 2] = ".";
            texts.add(new EncodedText(new long[n], new long[n], tokens, special, new int[n], new int[n], false));
        }
        try (ai.djl.ndarray.NDManager manager = ai.djl.ndarray.NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            HeadReductions.Masks masks = new HeadReductions.Masks(texts, seq,
                    io.attributionatlas.model.EncoderFamilies.of("bert"), manager);
            List<ai.djl.ndarray.NDArray> first = new ArrayList<>();
            List<ai.djl.ndarray.NDArray> second = new ArrayList<>();
            for (int l = 0; l < layers; l++) {
                float[] a = new float[texts.size() * heads * seq * seq];
                float[] c = new float[a.length];
                for (int i = 0; i < a.length; i++) {
                    a[i] = random.nextFloat();
                    c[i] = (float) random.nextGaussian();
                }
                ai.djl.ndarray.types.Shape shape = new ai.djl.ndarray.types.Shape(texts.size(), heads, seq, seq);
                first.add(manager.create(a, shape));
                second.add(manager.create(c, shape));
            }
            int width = PathSweep.ATTENTION_STATISTICS + 2 * HeadReductions.RELATION_PAIRS;
            long layerBytes = 8L * texts.size() * heads * seq * seq;
            float[][][][] byGroupSize = new float[3][][][];
            long[] limits = {1, 2 * layerBytes, Long.MAX_VALUE};
            for (int g = 0; g < limits.length; g++) {
                HostTransfer transfer = new HostTransfer();
                HeadReductions.Grouping grouping = new HeadReductions.Grouping(layers, heads, width, limits[g],
                        (c, a) -> {
                            ai.djl.ndarray.NDList top = HeadReductions.topPairs(c, masks, HeadReductions.RELATION_PAIRS);
                            return ai.djl.ndarray.NDArrays.concat(new ai.djl.ndarray.NDList(
                                    HeadReductions.categories(c, masks, false), HeadReductions.categories(c, masks, true),
                                    HeadReductions.moments(a, c, masks), top.get(0), top.get(1)), 2);
                        }, transfer);
                for (int l = 0; l < layers; l++) {
                    ai.djl.ndarray.NDArray a = first.get(l);
                    grouping.add(second.get(l), () -> a, false);
                }
                HeadReductions.Grouped grouped = grouping.finish();
                HostTransfer.Fetched host = transfer.fetch();
                byGroupSize[g] = new float[texts.size()][][];
                for (int b = 0; b < texts.size(); b++) {
                    float[][][] values = grouped.sample(host, b);
                    byGroupSize[g][b] = new float[layers * heads][];
                    for (int l = 0; l < layers; l++) {
                        for (int h = 0; h < heads; h++) {
                            byGroupSize[g][b][l * heads + h] = values[l][h];
                        }
                    }
                }
            }
            for (int g = 1; g < limits.length; g++) {
                for (int b = 0; b < texts.size(); b++) {
                    for (int x = 0; x < layers * heads; x++) {
                        assertArrayEquals(byGroupSize[0][b][x], byGroupSize[g][b][x], 1e-6f,
                                "groups of limit " + limits[g] + ", sample " + b + ", head " + x);
                    }
                }
            }
        }
    }
}
