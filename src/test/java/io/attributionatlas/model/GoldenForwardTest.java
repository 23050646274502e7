package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The forward pass reproduces ../shared/golden (an independent implementation) to 1e-4, alone and padded in a batch. */
public class GoldenForwardTest {

    private static final double TOLERANCE = 1e-4;

    @ParameterizedTest
    @ValueSource(strings = {"minilm-sst2", "tiny-bert-cls", "tiny-bert-qa", "tiny-distilbert-cls",
        "tiny-distilbert-qa", "tiny-electra-cls", "tiny-electra-qa"})
    void matchesGoldenSinglyAndBatched(String name) throws IOException {
        matchesGolden(name, Device.cpu());
    }

    /** The golden model {@code name} on {@code device}: every case alone, then all of them as one padded batch. */
    public static void matchesGolden(String name, Device device) throws IOException {
        Path dir = Fixtures.golden(name);
        Path modelDir = Files.exists(dir.resolve("config.json")) ? dir : Fixtures.realModel();
        List<JsonObject> cases = new ArrayList<>();
        for (String line : Files.readAllLines(dir.resolve("golden.jsonl"))) {
            if (!line.isBlank()) {
                cases.add(JsonParser.parseString(line).getAsJsonObject());
            }
        }
        assertTrue(cases.size() >= 2, "golden file has several cases");
        try (TransformerModel model = TransformerModel.load(modelDir, null, device)) {
            for (JsonObject c : cases) {
                check(model, List.of(c), name);
            }
            check(model, cases, name);
        }
    }

    /** The golden models (the real one and the tiny ones of the independent implementation). */
    public static final List<String> NAMES = List.of("minilm-sst2", "tiny-bert-cls", "tiny-bert-qa",
            "tiny-distilbert-cls", "tiny-distilbert-qa", "tiny-electra-cls", "tiny-electra-qa");

    private static void check(TransformerModel model, List<JsonObject> cases, String name) {
        List<long[]> ids = new ArrayList<>();
        List<long[]> types = new ArrayList<>();
        for (JsonObject c : cases) {
            ids.add(longs(c.getAsJsonArray("input_ids")));
            types.add(longs(c.getAsJsonArray("token_type_ids")));
        }
        EncodedBatch batch = EncodedBatch.pad(ids, types, model.config().padTokenId());
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forward(batch, new ForwardOptions().keepAttentions().keepHiddenStates(), scope);
            for (int b = 0; b < cases.size(); b++) {
                JsonObject c = cases.get(b);
                int n = ids.get(b).length;
                String where = name + " " + c.get("id").getAsString() + (cases.size() > 1 ? " (batched)" : "");
                if (c.has("logits")) {
                    compare(c.get("logits"), r.logits().get(b), where + " logits");
                } else {
                    compare(c.get("start_logits"), r.startLogits().get(new NDIndex("{}, :{}", b, n)), where + " start");
                    compare(c.get("end_logits"), r.endLogits().get(new NDIndex("{}, :{}", b, n)), where + " end");
                }
                JsonArray attentions = c.getAsJsonArray("attentions");
                assertEquals(model.config().numLayers(), attentions.size());
                for (int l = 0; l < attentions.size(); l++) {
                    compare(attentions.get(l), r.attentions().get(l).get(new NDIndex("{}, :, :{}, :{}", b, n, n)),
                            where + " attentions layer " + l);
                    if (c.has("hidden_states")) {
                        compare(c.getAsJsonArray("hidden_states").get(l),
                                r.hiddenStates().get(l).get(new NDIndex("{}, :{}", b, n)), where + " hidden " + l);
                    }
                }
                if (c.has("embedding_output")) {
                    compare(c.get("embedding_output"), r.embeddingOutput().get(new NDIndex("{}, :{}", b, n)),
                            where + " embedding output");
                }
            }
        }
    }

    public static long[] longs(JsonArray a) {
        long[] out = new long[a.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = a.get(i).getAsLong();
        }
        return out;
    }

    /** Every value of {@code actual} within 1e-4 of the JSON (nested arrays, row-major). */
    public static void compare(JsonElement expected, NDArray actual, String what) {
        List<Double> flat = new ArrayList<>();
        flatten(expected, flat);
        float[] got = actual.toFloatArray();
        assertEquals(flat.size(), got.length, what + ": number of values");
        double worst = 0;
        for (int i = 0; i < got.length; i++) {
            worst = Math.max(worst, Math.abs(flat.get(i) - got[i]));
        }
        assertTrue(worst <= TOLERANCE, what + ": max abs difference " + worst + " > " + TOLERANCE);
    }

    private static void flatten(JsonElement e, List<Double> out) {
        if (e.isJsonArray()) {
            e.getAsJsonArray().forEach(x -> flatten(x, out));
        } else {
            out.add(e.getAsDouble());
        }
    }
}
