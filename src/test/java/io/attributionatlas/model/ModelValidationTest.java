package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.google.gson.JsonObject;
import io.attributionatlas.model.SafetensorsWriter.Tensor;
import io.attributionatlas.model.TinyModels.Spec;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every malformed model directory fails before any compute with a message naming file, key and expectation. */
class ModelValidationTest {

    @TempDir
    Path tmp;
    Path dir;
    Spec spec = Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION);

    @BeforeEach
    void writeValidModel() throws Exception {
        dir = TinyModels.write(tmp.resolve("model"), spec);
    }

    private String loadError() {
        ModelException e = assertThrows(ModelException.class, () -> TransformerModel.load(dir, null, Device.cpu()).close());
        return e.getMessage();
    }

    private static void assertMentions(String message, String... parts) {
        for (String p : parts) {
            assertTrue(message.contains(p), "message should mention '" + p + "': " + message);
        }
    }

    private Path config() {
        return dir.resolve("config.json");
    }

    private Path weights() {
        return dir.resolve("model.safetensors");
    }

    private void writeConfig(String key, Object value) throws Exception {
        JsonObject c = TinyModels.config(spec);
        if (value == null) {
            c.remove(key);
        } else if (value instanceof Number n) {
            c.addProperty(key, n);
        } else {
            c.addProperty(key, value.toString());
        }
        Files.writeString(config(), c.toString());
    }

    private Map<String, Tensor> tensors() {
        return TinyModels.tensors(spec, ModelConfig.read(config(), null));
    }

    /** A family's options this implementation does not do are refused by name, before any weights are read. */
    @Test
    void unsupportedFamilyOptionsAreRefusedByName() throws Exception {
        spec = Spec.of(EncoderFamilies.of("deberta-v2"), Task.SEQUENCE_CLASSIFICATION);
        dir = TinyModels.write(tmp.resolve("deberta"), spec);
        JsonObject c = TinyModels.config(spec);
        com.google.gson.JsonArray types = new com.google.gson.JsonArray();
        types.add("c2p");
        types.add("p2p");
        c.add("pos_att_type", types);
        Files.writeString(config(), c.toString());
        assertMentions(loadError(), config().toString(), "pos_att_type", "unsupported value 'p2p'", "c2p and/or p2c");
        writeConfig("share_att_key", null);
        assertMentions(loadError(), "share_att_key", "unsupported: false");
        c = TinyModels.config(spec);
        c.addProperty("position_biased_input", true);
        Files.writeString(config(), c.toString());
        assertMentions(loadError(), "position_biased_input", "absolute position embeddings are not implemented");

        spec = Spec.of(EncoderFamilies.of("albert"), Task.SEQUENCE_CLASSIFICATION);
        dir = TinyModels.write(tmp.resolve("albert"), spec);
        writeConfig("num_hidden_groups", 2);
        assertMentions(loadError(), "num_hidden_groups", "unsupported num_hidden_groups 2", "one shared layer");
    }

    @Test
    void missingConfig() throws Exception {
        Files.delete(config());
        assertMentions(loadError(), config().toString(), "file not found", "config.json");
    }

    @Test
    void configThatIsNotJson() throws Exception {
        Files.writeString(config(), "{ not json");
        assertMentions(loadError(), config().toString(), "not a JSON object");
    }

    @Test
    void unsupportedModelType() throws Exception {
        writeConfig("model_type", "gpt2");
        assertMentions(loadError(), config().toString(), "'model_type'", "unsupported model_type 'gpt2'",
                "bert, distilbert, electra");
    }

    @Test
    void missingModelType() throws Exception {
        writeConfig("model_type", null);
        assertMentions(loadError(), config().toString(), "'model_type'", "missing");
    }

    @Test
    void unsupportedPositionEmbeddingType() throws Exception {
        writeConfig("position_embedding_type", "relative_key");
        assertMentions(loadError(), config().toString(), "'position_embedding_type'", "relative_key",
                "expected absolute");
    }

    @Test
    void missingOrInvalidSize() throws Exception {
        writeConfig("hidden_size", null);
        assertMentions(loadError(), config().toString(), "'hidden_size'", "missing", "positive integer");
        writeConfig("num_attention_heads", 5);
        assertMentions(loadError(), "'hidden_size'", "not a multiple", "5");
        writeConfig("num_hidden_layers", "two");
        assertMentions(loadError(), "'num_hidden_layers'", "expected an integer");
    }

    @Test
    void unsupportedActivation() throws Exception {
        writeConfig("hidden_act", "swiglu");
        assertMentions(loadError(), "'hidden_act'", "unsupported activation 'swiglu'", "gelu");
    }

    @Test
    void missingWeights() throws Exception {
        Files.delete(weights());
        assertMentions(loadError(), weights().toString(), "file not found", "model.safetensors.index.json");
    }

    @Test
    void pickleWeightsAreRefusedWithConversionAdvice() throws Exception {
        Files.delete(weights());
        Files.write(dir.resolve("pytorch_model.bin"), new byte[] {(byte) 0x80, 2});
        assertMentions(loadError(), "pytorch_model.bin", "pickle", "not loaded", "safe_serialization=True",
                "model.safetensors");
    }

    @Test
    void fileShorterThanHeaderLength() throws Exception {
        Files.write(weights(), new byte[] {1, 2, 3});
        assertMentions(loadError(), weights().toString(), "truncated", "8-byte header length");
    }

    @Test
    void headerLengthPastEndOfFile() throws Exception {
        Files.write(weights(), ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(4096).array());
        assertMentions(loadError(), weights().toString(), "header length 4096", "points past the end", "16 bytes");
    }

    @Test
    void truncatedDataSection() throws Exception {
        byte[] full = Files.readAllBytes(weights());
        Files.write(weights(), java.util.Arrays.copyOf(full, full.length - 100));
        String m = loadError();
        assertMentions(m, weights().toString(), "data_offsets", "point past the end", "truncated");
        assertTrue(m.contains("key '"), m);
    }

    @Test
    void corruptHeader() throws Exception {
        SafetensorsWriter.writeRaw(weights(), "{\"a\": [1, 2", List.of());
        assertMentions(loadError(), weights().toString(), "corrupt safetensors header");
        SafetensorsWriter.writeRaw(weights(), "{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", List.of(new byte[8]));
        assertMentions(loadError(), weights().toString(), "key 'w'", "expected {dtype, shape, data_offsets}");
        SafetensorsWriter.writeRaw(weights(), "{\"w\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}}",
                List.of(new byte[8]));
        assertMentions(loadError(), "key 'w'", "8 bytes does not match F32 shape [3]", "expected 12");
    }

    @Test
    void unsupportedDtype() throws Exception {
        Map<String, Tensor> t = tensors();
        String key = "bert.embeddings.word_embeddings.weight";
        Tensor w = t.get(key);
        t.put(key, new Tensor("I32", w.shape(), null, new byte[w.values().length * 4]));
        TinyModels.writeWeights(dir, t, 1);
        assertMentions(loadError(), weights().toString(), "key '" + key + "'", "unsupported dtype I32",
                "expected F32, F16 or BF16");
    }

    @Test
    void missingParameter() throws Exception {
        Map<String, Tensor> t = tensors();
        t.remove("bert.encoder.layer.1.attention.self.key.weight");
        TinyModels.writeWeights(dir, t, 1);
        assertMentions(loadError(), weights().toString(), "encoder.layer.1.attention.self.key.weight",
                "missing parameter", "expected shape [16, 16]", "bert.encoder.layer.1.attention.self.key.weight");
    }

    @Test
    void missingHeadParameter() throws Exception {
        Map<String, Tensor> t = tensors();
        t.remove("classifier.weight");
        TinyModels.writeWeights(dir, t, 1);
        assertMentions(loadError(), "'classifier.weight'", "missing parameter", "bert classification model");
    }

    @Test
    void unexpectedParameter() throws Exception {
        Map<String, Tensor> t = tensors();
        t.put("bert.encoder.layer.2.output.dense.weight", Tensor.of("F32", new long[] {16, 24}, new float[16 * 24]));
        TinyModels.writeWeights(dir, t, 1);
        assertMentions(loadError(), weights().toString(), "'bert.encoder.layer.2.output.dense.weight'",
                "unexpected parameter", "2 layers", "config.json");
    }

    @Test
    void shapeMismatchAgainstConfig() throws Exception {
        Map<String, Tensor> t = tensors();
        t.put("classifier.weight", Tensor.of("F32", new long[] {2, 16}, new float[32]));
        TinyModels.writeWeights(dir, t, 1);
        assertMentions(loadError(), "'classifier.weight'", "shape [2, 16] does not match", "config.json", "[3, 16]");
        writeConfig("vocab_size", 50);
        TinyModels.writeWeights(dir, tensors(), 1);
        writeConfig("vocab_size", 40);
        // Weights written for a 50-token vocabulary, config saying 40.
        assertMentions(loadError(), "word_embeddings.weight", "shape [50, 16]", "[40, 16]");
    }

    @Test
    void missingShard() throws Exception {
        Files.delete(weights());
        TinyModels.writeWeights(dir, tensors(), 2);
        Files.delete(dir.resolve(TinyModels.shardName(1, 2)));
        assertMentions(loadError(), WeightStore.INDEX_FILE, "model-00002-of-00002.safetensors", "missing");
    }

    @Test
    void validModelStillLoads() {
        try (TransformerModel m = TransformerModel.load(dir, null, Device.cpu())) {
            assertTrue(m.loadReport().parameterCount() > 0);
        }
    }
}
