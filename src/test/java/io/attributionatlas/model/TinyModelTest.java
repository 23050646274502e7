package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import io.attributionatlas.model.TinyModels.Spec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/** Tiny seeded random models of every architecture × head, written as Hugging Face would. */
class TinyModelTest {

    static final List<String> TEXTS = List.of("the movie was very good .", "bad", "who won the game ? the team !",
            "not a good plot , the acting was bad");

    @TempDir
    Path tmp;

    static Stream<Arguments> everyArchitectureAndTask() {
        List<Arguments> all = new ArrayList<>();
        for (EncoderFamily a : EncoderFamilies.all()) {
            for (Task t : Task.values()) {
                if (a.refusesTask(t) == null) {
                    all.add(Arguments.of(a, t));
                }
            }
        }
        return all.stream();
    }

    static EncodedBatch encode(TextTokenizer tokenizer, List<String> texts) {
        return EncodedBatch.ofTexts(texts.stream().map(t -> t.contains("?") ? tokenizer.encode(t, "the team won")
                : tokenizer.encode(t)).toList(), 0);
    }

    @ParameterizedTest
    @MethodSource("everyArchitectureAndTask")
    void loadsAndPadsWithoutInfluence(EncoderFamily arch, Task task) throws Exception {
        Path dir = TinyModels.write(tmp.resolve("m"), Spec.of(arch, task));
        try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
            TransformerModel model = p.model();
            assertEquals(task, model.config().task());
            assertTrue(model.loadReport().ignoredKeys().contains("cls.predictions.bias"));
            assertTrue(model.loadReport().ignoredKeys().stream().anyMatch(k -> k.endsWith("position_ids")));
            EncodedBatch batch = encode(p.tokenizer(), TEXTS);
            try (NDManager scope = model.manager().newSubManager()) {
                ForwardResult all = model.forward(batch, new ForwardOptions().keepAttentions().keepHiddenStates()
                        .keepValues(), scope);
                assertEquals(TinyModels.LAYERS, all.attentions().size());
                assertEquals(TinyModels.LAYERS, all.values().size());
                for (int i = 0; i < TEXTS.size(); i++) {
                    int n = batch.length(i);
                    EncodedBatch single = encode(p.tokenizer(), List.of(TEXTS.get(i)));
                    ForwardResult one = model.forward(single, new ForwardOptions().keepAttentions(), scope);
                    assertClose(one.lastHiddenState().get(0), all.lastHiddenState().get(new NDIndex("{}, :{}", i, n)),
                            1e-5, "hidden states padded vs alone");
                    for (int l = 0; l < TinyModels.LAYERS; l++) {
                        NDArray rows = all.attentions().get(l).get(new NDIndex("{}, :, :{}", i, n)).sum(new int[] {-1});
                        assertClose(rows.onesLike(), rows, 1e-5, "attention rows sum to 1");
                        NDArray padded = all.attentions().get(l).get(new NDIndex("{}, :, :{}, {}:", i, n, n));
                        assertTrue(padded.isEmpty() || padded.abs().max().getFloat() == 0f, "padded keys get no attention");
                        assertClose(one.attentions().get(l).get(0),
                                all.attentions().get(l).get(new NDIndex("{}, :, :{}, :{}", i, n, n)), 1e-5, "attention");
                    }
                    switch (task) {
                        case SEQUENCE_CLASSIFICATION -> {
                            assertArrayEquals(new long[] {TEXTS.size(), 3}, all.logits().getShape().getShape());
                            assertClose(one.logits().get(0), all.logits().get(i), 1e-5, "logits");
                        }
                        case QUESTION_ANSWERING -> {
                            assertClose(one.startLogits().get(0), all.startLogits().get(new NDIndex("{}, :{}", i, n)),
                                    1e-5, "start logits");
                            assertClose(one.endLogits().get(0), all.endLogits().get(new NDIndex("{}, :{}", i, n)),
                                    1e-5, "end logits");
                        }
                        case ENCODER -> assertNull(all.logits());
                    }
                }
            }
            List<Prediction> predictions = p.predict(TEXTS.stream().map(TextInput::of).toList(), 3);
            assertEquals(TEXTS.size(), predictions.size());
            if (task == Task.SEQUENCE_CLASSIFICATION) {
                float sum = 0;
                for (float v : predictions.get(0).probabilities()) {
                    sum += v;
                }
                assertEquals(1f, sum, 1e-5);
            }
            if (task == Task.QUESTION_ANSWERING) {
                Prediction.AnswerSpan span = predictions.get(0).answer();
                assertTrue(span.start() >= 1 && span.end() >= span.start(), "answer inside the text: " + span);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("everyArchitectureAndTask")
    void gradientsAtEveryInternalMatchFiniteDifferences(EncoderFamily arch, Task task) throws Exception {
        Path dir = TinyModels.write(tmp.resolve("m"), Spec.of(arch, task));
        try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
            FiniteDifferences.checkEveryInternal(p.model(), encode(p.tokenizer(), TEXTS.subList(0, 3)));
        }
    }

    @Test
    void gradientsStayCorrectWhileTheGarbageCollectorRuns() throws Exception {
        // Regression: scalar constants held by autograd must not live in buffers the collector can free.
        for (String activation : List.of("gelu", "gelu_new", "relu")) {
            Path dir = TinyModels.write(tmp.resolve(activation), Spec.of(EncoderFamilies.of("electra"),
                    Task.SEQUENCE_CLASSIFICATION).withActivation(activation));
            try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
                EncodedBatch batch = encode(p.tokenizer(), TEXTS);
                float[] reference = embeddingGradient(p.model(), batch);
                Thread collector = new Thread(() -> {
                    while (!Thread.currentThread().isInterrupted()) {
                        System.gc();
                        try {
                            Thread.sleep(1);
                        } catch (InterruptedException e) {
                            return;
                        }
                    }
                });
                collector.start();
                try {
                    for (int i = 0; i < 40; i++) {
                        assertArrayEquals(reference, embeddingGradient(p.model(), batch), 1e-6f, activation + " #" + i);
                    }
                } finally {
                    collector.interrupt();
                    collector.join();
                }
            }
        }
    }

    private static float[] embeddingGradient(TransformerModel model, EncodedBatch batch) {
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forwardAndBackward(batch, new ForwardOptions().tapEmbedding(), scope,
                    x -> x.logits().get(":, 1").sum());
            return r.embeddingTap().getGradient().toFloatArray();
        }
    }

    @Test
    void storedDtypesAreReadExactly() throws Exception {
        for (String dtype : List.of("F16", "BF16")) {
            Spec spec = Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION).withDtype(dtype);
            Path reduced = TinyModels.write(tmp.resolve(dtype), spec);
            // The same values, rounded to the reduced dtype, stored as F32: the forward pass must agree exactly.
            Path widened = tmp.resolve(dtype + "-as-f32");
            TinyModels.write(widened, spec.withDtype("F32"));
            java.util.Map<String, SafetensorsWriter.Tensor> tensors = TinyModels.tensors(spec,
                    ModelConfig.read(reduced.resolve("config.json"), null));
            java.util.Map<String, SafetensorsWriter.Tensor> rounded = new java.util.LinkedHashMap<>();
            SafetensorsFile stored = SafetensorsFile.open(reduced.resolve("model.safetensors"));
            tensors.forEach((k, t) -> rounded.put(k, t.raw() != null ? t
                    : SafetensorsWriter.Tensor.of("F32", t.shape(), stored.readFloats(k))));
            TinyModels.writeWeights(widened, rounded, 1);
            float[] a = logits(reduced, "the movie was good");
            float[] b = logits(widened, "the movie was good");
            assertArrayEquals(b, a, dtype);
            try (TransformerModel m = TransformerModel.load(reduced, null, Device.cpu())) {
                assertTrue(m.loadReport().storedDtypes().contains(dtype));
            }
        }
    }

    @Test
    void halfPrecisionConversionCoversEdgeCases() {
        assertEquals(1.0f, SafetensorsFile.halfToFloat((short) 0x3c00));
        assertEquals(-2.0f, SafetensorsFile.halfToFloat((short) 0xc000));
        assertEquals(65504f, SafetensorsFile.halfToFloat((short) 0x7bff));
        assertEquals((float) Math.pow(2, -24), SafetensorsFile.halfToFloat((short) 0x0001));
        assertEquals(Float.NEGATIVE_INFINITY, SafetensorsFile.halfToFloat((short) 0xfc00));
        assertTrue(Float.isNaN(SafetensorsFile.halfToFloat((short) 0x7e00)));
        assertEquals(Float.floatToIntBits(-0f), Float.floatToIntBits(SafetensorsFile.halfToFloat((short) 0x8000)));
        for (int h = 0; h < 0x7c00; h += 7) {
            assertEquals((short) h, SafetensorsWriter.floatToHalf(SafetensorsFile.halfToFloat((short) h)), "round trip");
        }
    }

    @Test
    void nameVariantsAndShardsGiveTheSameModel() throws Exception {
        Spec base = Spec.of(EncoderFamilies.of("distilbert"), Task.SEQUENCE_CLASSIFICATION);
        float[] reference = logits(TinyModels.write(tmp.resolve("base"), base), "the plot was bad");
        for (Spec variant : List.of(base.withoutPrefix(), base.withLegacyLayerNorm(), base.withShards(3),
                base.withoutPrefix().withLegacyLayerNorm().withShards(2))) {
            Path dir = TinyModels.write(tmp.resolve("v" + variant.hashCode()), variant);
            assertArrayEquals(reference, logits(dir, "the plot was bad"), variant.toString());
        }
        Spec bert = Spec.of(EncoderFamilies.of("bert"), Task.QUESTION_ANSWERING);
        try (TransformerModel m = TransformerModel.load(TinyModels.write(tmp.resolve("legacy"),
                bert.withLegacyLayerNorm().withShards(2)), null, Device.cpu())) {
            assertEquals(Task.QUESTION_ANSWERING, m.config().task());
        }
    }

    @Test
    void taskCanBeOverriddenAndUnusedHeadIsListed() throws Exception {
        Path dir = TinyModels.write(tmp.resolve("m"), Spec.of(EncoderFamilies.of("electra"), Task.SEQUENCE_CLASSIFICATION));
        try (TransformerModel m = TransformerModel.load(dir, Task.ENCODER, Device.cpu())) {
            assertEquals(Task.ENCODER, m.config().task());
            assertTrue(m.loadReport().ignoredKeys().containsAll(List.of("classifier.dense.weight",
                    "classifier.out_proj.bias")), m.loadReport().ignoredKeys().toString());
        }
    }

    @Test
    void activationsFollowTheirConfigNames() throws Exception {
        try (NDManager m = NDManager.newBaseManager(Device.cpu(), "PyTorch")) {
            NDArray x = m.create(new float[] {-2f, -1f, 0f, 0.5f, 1f, 3f});
            assertArrayEquals(new float[] {-0.04550026f, -0.15865525f, 0f, 0.34573123f, 0.8413447f, 2.9959502f},
                    Activation.fromConfigName("gelu").apply(x).toFloatArray(), 1e-6f);
            assertArrayEquals(new float[] {-0.04540231f, -0.15880801f, 0f, 0.34571401f, 0.8411920f, 2.9963627f},
                    Activation.fromConfigName("gelu_new").apply(x).toFloatArray(), 1e-6f);
            assertArrayEquals(new float[] {0, 0, 0, 0.5f, 1, 3}, Activation.fromConfigName("relu").apply(x)
                    .toFloatArray());
        }
        // A relu model computes, and differs from the gelu one.
        Spec gelu = Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION);
        float[] a = logits(TinyModels.write(tmp.resolve("gelu"), gelu), "the movie");
        float[] b = logits(TinyModels.write(tmp.resolve("relu"), gelu.withActivation("relu")), "the movie");
        assertTrue(Math.abs(a[0] - b[0]) > 1e-4);
    }

    @Test
    void nativeMemoryDoesNotGrowOverManyBatches() throws Exception {
        Path dir = TinyModels.write(tmp.resolve("m"), Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION));
        try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
            List<String> texts = new ArrayList<>();
            for (int i = 0; i < 32; i++) {
                texts.add("the movie was very good . ".repeat(1 + i % 4));
            }
            EncodedBatch batch = encode(p.tokenizer(), texts);
            Runnable step = () -> {
                try (NDManager scope = p.model().manager().newSubManager()) {
                    ForwardResult r = p.model().forwardAndBackward(batch, ForwardOptions.all(), scope,
                            x -> x.logits().get(":, 0").sum());
                    r.embeddingTap().getGradient().sum().getFloat();
                }
            };
            for (int i = 0; i < 30; i++) {
                step.run();
            }
            long before = residentBytes();
            for (int i = 0; i < 300; i++) {
                step.run();
            }
            long grown = residentBytes() - before;
            // One forward+backward here allocates ~10 MB of tensors: a leak would add gigabytes.
            assertTrue(grown < 64L << 20, "resident memory grew by " + (grown >> 20) + " MB over 300 batches");
        }
    }

    private static long residentBytes() throws java.io.IOException {
        return io.attributionatlas.Fixtures.procStatusMb("VmRSS:") << 20;
    }

    private static float[] logits(Path dir, String text) {
        try (Predictor p = Predictor.open(dir, null, Device.cpu())) {
            return p.predict(List.of(TextInput.of(text)), 1).get(0).logits();
        }
    }

    static void assertClose(NDArray expected, NDArray actual, double tolerance, String what) {
        assertArrayEquals(expected.getShape().getShape(), actual.getShape().getShape(), what + ": shape");
        float diff = expected.sub(actual).abs().max().getFloat();
        assertTrue(diff <= tolerance, what + ": max abs difference " + diff);
        assertNotNull(actual);
    }
}
