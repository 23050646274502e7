package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonNull;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import com.google.gson.JsonPrimitive;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.SafetensorsWriter.Tensor;
import io.attributionatlas.model.TinyModels.Spec;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.math.BigDecimal;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import net.jqwik.api.statistics.Statistics;

/**
 * Property-based fuzzing of the model-file loaders: safetensors weights, config.json, the tokenizer files and a whole
 * model directory, generated or mutated from the golden Hugging Face models and seeded tiny ones. Whatever the
 * bytes, a load gives a usable result or fails with a {@link ModelException} naming the file, within a time bound
 * and without allocating more than the input justifies. The inputs the properties found are kept as examples.
 */
class HostileModelFilesTest {

    /** A load that takes longer is a hang: the valid seeds load in well under a second. */
    private static final long TRY_LIMIT_SECONDS = 10;
    /** What a load may allocate besides {@link #ALLOCATION_PER_INPUT_BYTE}: a tiny model, a tokenizer. */
    private static final long ALLOCATION_ALLOWANCE = 64L << 20;
    /**
     * What a load may allocate per byte of its files: Gson's tree of dense JSON ("[1,1,…]") takes up to 47 bytes per
     * byte, reading the text a few more. A size the file only claims gets no allowance.
     */
    private static final long ALLOCATION_PER_INPUT_BYTE = 64;
    private static final com.sun.management.ThreadMXBean THREADS =
            (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private static Path scratch;
    /** The golden Hugging Face models: every family, tokenizer.json, F32. */
    private static List<Path> goldenModels;
    /** Seeded tiny models: vocab.txt tokenizers, F32, F16 and BF16 weights. */
    private static List<Path> tinyModels;
    /** Tiny models whose weights are in shards named by model.safetensors.index.json. */
    private static List<Path> shardedModels;
    /** The golden models, and one with a SentencePiece charsmap in its normalizer (none of them has one). */
    private static List<Path> tokenizerJsonModels;
    /** Loads run here, so that a hang can be timed out and the allocation measured on one thread. */
    private static ExecutorService loader;

    @BeforeContainer
    static void writeSeeds() throws Exception {
        scratch = Files.createTempDirectory("hostile-model-files");
        try (Stream<Path> dirs = Files.list(Fixtures.golden("hf"))) {
            goldenModels = dirs.filter(d -> Files.isRegularFile(d.resolve("config.json"))).sorted().toList();
        }
        tinyModels = List.of(
                TinyModels.write(scratch.resolve("tiny-bert"), Spec.of(EncoderFamilies.of("bert"),
                        Task.SEQUENCE_CLASSIFICATION)),
                TinyModels.write(scratch.resolve("tiny-bert-f16-qa"), Spec.of(EncoderFamilies.of("bert"),
                        Task.QUESTION_ANSWERING).withDtype("F16")),
                TinyModels.write(scratch.resolve("tiny-distilbert-bf16"), Spec.of(EncoderFamilies.of("distilbert"),
                        Task.SEQUENCE_CLASSIFICATION).withDtype("BF16")));
        shardedModels = List.of(
                TinyModels.write(scratch.resolve("tiny-bert-3-shards"), Spec.of(EncoderFamilies.of("bert"),
                        Task.SEQUENCE_CLASSIFICATION).withShards(3)),
                TinyModels.write(scratch.resolve("tiny-roberta-2-shards-qa"), Spec.of(EncoderFamilies.of("roberta"),
                        Task.QUESTION_ANSWERING).withShards(2)));
        tokenizerJsonModels = new ArrayList<>(goldenModels);
        tokenizerJsonModels.add(withPrecompiledNormalizer(golden("xlm-roberta-cls"), scratch.resolve("precompiled")));
        loader = newLoader();
        // The engine's first start allocates far more than any one load: it happens here, not in a try.
        loader.submit(() -> {
            for (Path dir : List.of(goldenModels.get(0), tinyModels.get(0))) {
                try (Predictor p = predictor(dir)) {
                    p.predict(List.of(TextInput.of("the movie was good")), 1);
                }
            }
            return null;
        }).get();
    }

    @AfterContainer
    static void deleteSeeds() throws IOException {
        loader.shutdownNow();
        deleteTree(scratch);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Properties
    // ---------------------------------------------------------------------------------------------------------

    /** A safetensors file with bytes flipped, inserted, deleted or cut (mostly in the length field and header). */
    @Property
    void safetensorsWithMutatedBytes(@ForAll("weightFiles") Path seed, @ForAll("byteEdits") List<ByteEdit> edits)
            throws Exception {
        byte[] bytes = applyBytes(Files.readAllBytes(seed), edits);
        assertSafetensorsContained(bytes);
    }

    /** A safetensors file whose header JSON was edited (wrong types, huge or negative numbers, missing keys). */
    @Property
    void safetensorsWithMutatedHeader(@ForAll("weightFiles") Path seed, @ForAll("jsonEdits") List<JsonEdit> edits)
            throws Exception {
        assertSafetensorsContained(editHeader(Files.readAllBytes(seed), edits));
    }

    /** Generated headers: shapes whose element count overflows, dtypes of any name, byte ranges that match or not. */
    @Property
    void generatedSafetensors(@ForAll("generatedTensors") List<GeneratedTensor> tensors,
            @ForAll("headerLengthErrors") long headerLengthError) throws Exception {
        assertSafetensorsContained(safetensorsOf(tensors, headerLengthError));
    }

    /** A whole model directory with config.json and the weights' header edited: loads, then predicts, or refuses. */
    @Property
    void modelDirectoryWithMutatedConfigAndWeights(@ForAll("models") Path seed,
            @ForAll("mutations") Mutation config, @ForAll("jsonEdits") List<JsonEdit> weightsHeader) throws Exception {
        Map<String, byte[]> files = Map.of(
                "config.json", config.apply(Files.readAllBytes(seed.resolve("config.json"))),
                WeightStore.SINGLE_FILE, editHeader(Files.readAllBytes(seed.resolve(WeightStore.SINGLE_FILE)),
                        weightsHeader));
        withModelDirectory(seed, files, (dir, inputBytes) -> assertLoadContained(dir, inputBytes, () -> {
            try (Predictor p = predictor(dir)) { // usable: it predicts
                p.predict(List.of(new TextInput(null, "who won the game?", "the team won the game .")), 1);
            }
        }));
    }

    /** A sharded model directory with its index and the first shard's header edited. */
    @Property
    void shardedModelDirectoryMutated(@ForAll("shardedModels") Path seed, @ForAll("mutations") Mutation index,
            @ForAll("jsonEdits") List<JsonEdit> firstShardHeader) throws Exception {
        Path firstShard;
        try (Stream<Path> seedFiles = Files.list(seed)) {
            firstShard = seedFiles.filter(f -> f.toString().endsWith(".safetensors")).sorted().findFirst()
                    .orElseThrow();
        }
        Map<String, byte[]> files = Map.of(
                WeightStore.INDEX_FILE, index.apply(Files.readAllBytes(seed.resolve(WeightStore.INDEX_FILE))),
                firstShard.getFileName().toString(), editHeader(Files.readAllBytes(firstShard), firstShardHeader));
        withModelDirectory(seed, files, (dir, inputBytes) -> assertLoadContained(dir, inputBytes, () -> {
            try (Predictor p = predictor(dir)) { // usable: it predicts
                p.predict(List.of(TextInput.of("the movie was good")), 1);
            }
        }));
    }

    /** Generated configurations: a plausible one of any family with keys set to hostile values. */
    @Property
    void generatedConfig(@ForAll("generatedConfigs") JsonObject config) throws Exception {
        Path file = Files.createTempFile(scratch, "config", ".json");
        try {
            byte[] bytes = config.toString().getBytes(StandardCharsets.UTF_8);
            Files.write(file, bytes);
            assertLoadContained(file, bytes.length, () -> {
                ModelConfig c = ModelConfig.read(file, null);
                // What the loader does next with a config: lay out its parameters, size the tokenizer.
                for (ParameterLayout.Spec spec : new ParameterLayout(c).all()) {
                    assertTrue(Arrays.stream(spec.shape()).allMatch(d -> d >= 0), "negative dimension " + spec);
                }
                assertTrue(c.maxLength() > 0 && c.headSize() > 0, "maxLength " + c.maxLength() + ", head size "
                        + c.headSize());
            });
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** tokenizer.json and tokenizer_config.json mutated: the tokenizer opens and encodes, or refuses. */
    @Property
    void tokenizerJsonMutated(@ForAll("tokenizerJsonModels") Path seed, @ForAll("mutations") Mutation tokenizer,
            @ForAll("mutations") Mutation tokenizerConfig) throws Exception {
        Map<String, byte[]> files = Map.of(
                TextTokenizer.TOKENIZER_JSON, tokenizer.apply(Files.readAllBytes(seed.resolve(
                        TextTokenizer.TOKENIZER_JSON))),
                TextTokenizer.TOKENIZER_CONFIG, tokenizerConfig.apply(Files.readAllBytes(seed.resolve(
                        TextTokenizer.TOKENIZER_CONFIG))));
        withModelDirectory(seed, files, (dir, inputBytes) -> assertLoadContained(dir, inputBytes,
                () -> openAndEncode(dir)));
    }

    /** vocab.txt, tokenizer_config.json and special_tokens_map.json mutated: the generated WordPiece tokenizer. */
    @Property
    void vocabTxtMutated(@ForAll("tinyModels") Path seed, @ForAll("byteEdits") List<ByteEdit> vocab,
            @ForAll("mutations") Mutation tokenizerConfig, @ForAll("mutations") Mutation specialTokensMap)
            throws Exception {
        Map<String, byte[]> files = Map.of(
                TextTokenizer.VOCAB_TXT, applyBytes(Files.readAllBytes(seed.resolve(TextTokenizer.VOCAB_TXT)), vocab),
                TextTokenizer.TOKENIZER_CONFIG, tokenizerConfig.apply(Files.readAllBytes(seed.resolve(
                        TextTokenizer.TOKENIZER_CONFIG))),
                TextTokenizer.SPECIAL_TOKENS_MAP, specialTokensMap.apply(SPECIAL_TOKENS_MAP_SEED));
        withModelDirectory(seed, files, (dir, inputBytes) -> assertLoadContained(dir, inputBytes,
                () -> openAndEncode(dir)));
    }

    // ---------------------------------------------------------------------------------------------------------
    // What the properties found: each input failed as its comment says before the fix
    // ---------------------------------------------------------------------------------------------------------

    /** modelDirectory…: an architectures entry that is not a string threw Gson's UnsupportedOperationException. */
    @Example
    void architecturesEntryThatIsNotAString() throws Exception {
        Path seed = golden("bert-cls");
        assertRefused(seed, Map.of("config.json", editedJson(seed.resolve("config.json"),
                c -> c.getAsJsonArray("architectures").add(new JsonObject()))), HostileModelFilesTest::predictor,
                "config.json", "architectures");
    }

    /**
     * modelDirectory…: num_hidden_layers 1E+400 read as 2^31 - 1 (a cast saturates), and the parameter layout of
     * that many layers hung; 2^31 - 1 itself still would.
     */
    @Example
    void layerCountsNoEncoderHas() throws Exception {
        Path seed = golden("bert-cls");
        for (String layers : List.of("1E+400", "2147483648", "2147483647")) {
            assertRefused(seed, Map.of("config.json", editedJson(seed.resolve("config.json"),
                    c -> c.add("num_hidden_layers", new JsonPrimitive(new BigDecimal(layers))))),
                    HostileModelFilesTest::predictor, "config.json", "num_hidden_layers");
        }
    }

    /** modelDirectory…: a ModernBERT rope_parameters entry that is not an object threw IllegalStateException. */
    @Example
    void familySettingOfTheWrongJsonType() throws Exception {
        Path seed = golden("modernbert-cls");
        assertRefused(seed, Map.of("config.json", editedJson(seed.resolve("config.json"),
                c -> c.getAsJsonObject("rope_parameters").addProperty("full_attention", 0))),
                HostileModelFilesTest::predictor, "config.json", "modernbert");
    }

    /**
     * modelDirectory…: RoBERTa's pad_token_id 128 with 130 positions left 1 position, which no pair with its special
     * tokens fits: the tokenizer did not truncate, and the forward pass threw IllegalArgumentException. A negative
     * pad_token_id would give negative positions.
     */
    @Example
    void padTokenIdLeavingNoRoomOrOutOfTheVocabulary() throws Exception {
        Path seed = golden("roberta-cls");
        for (int pad : List.of(128, -3, 1500)) {
            assertRefused(seed, Map.of("config.json", editedJson(seed.resolve("config.json"),
                    c -> c.addProperty("pad_token_id", pad))), HostileModelFilesTest::predictor, "config.json");
        }
    }

    /**
     * modelDirectory…: a DeBERTa config without c2p or p2c (pos_att_type missing, or an object) loaded, then the
     * forward pass threw NullPointerException; transformers runs it with no relative term.
     */
    @Example
    void debertaWithoutRelativeAttentionTerms() throws Exception {
        Path seed = golden("deberta-v2-cls");
        withModelDirectory(seed, Map.of("config.json", editedJson(seed.resolve("config.json"),
                c -> c.remove("pos_att_type"))), (dir, inputBytes) -> assertContained(dir, inputBytes, () -> {
                    try (Predictor p = predictor(dir)) {
                        p.predict(List.of(TextInput.of("the movie was good")), 1);
                    }
                }));
    }

    /** Found reading the code: num_labels 2^31 - 1 named every label, 2^31 strings, on reading config.json. */
    @Example
    void hugeLabelCountIsNotAllocated() throws Exception {
        Path seed = golden("bert-cls");
        withModelDirectory(seed, Map.of("config.json", editedJson(seed.resolve("config.json"), c -> {
            c.remove("id2label");
            c.addProperty("num_labels", Integer.MAX_VALUE);
        })), (dir, inputBytes) -> assertContained(dir, inputBytes, () -> {
            assertEquals(Integer.MAX_VALUE, ModelConfig.read(dir.resolve("config.json"), null).numLabels());
            assertMentions(assertThrows(ModelException.class, () -> predictor(dir).close()), "classifier.weight");
        }));
    }

    /** shardedModel…: a shard name with NUL threw InvalidPathException, a non-string IllegalStateException. */
    @Example
    void shardNamesThatAreNoFileOfTheDirectory() throws Exception {
        Path seed = shardedModels.get(0);
        for (JsonElement name : List.of(new JsonPrimitive("\u0000"), new JsonArray(), new JsonPrimitive("/"),
                new JsonPrimitive("../config.json"))) {
            assertRefused(seed, Map.of(WeightStore.INDEX_FILE, editedJson(seed.resolve(WeightStore.INDEX_FILE),
                    index -> index.getAsJsonObject("weight_map").add("cls.predictions.bias", name))),
                    HostileModelFilesTest::predictor, WeightStore.INDEX_FILE, "cls.predictions.bias");
        }
    }

    /**
     * shardedModel…: an empty weight_map loaded as a store of no tensors, and the first missing parameter was
     * reported against "model.safetensors", a path outside the model directory. So was a model.safetensors of none.
     */
    @Example
    void weightsWithNoTensors() throws Exception {
        Path sharded = shardedModels.get(0);
        assertRefused(sharded, Map.of(WeightStore.INDEX_FILE, editedJson(sharded.resolve(WeightStore.INDEX_FILE),
                index -> index.add("weight_map", new JsonObject()))), HostileModelFilesTest::predictor,
                WeightStore.INDEX_FILE, "weight_map");
        Path single = golden("bert-cls");
        Path empty = Files.createTempFile(scratch, "empty", ".safetensors");
        try {
            SafetensorsWriter.writeRaw(empty, "{\"__metadata__\": {\"format\": \"pt\"}}", List.of());
            assertRefused(single, Map.of(WeightStore.SINGLE_FILE, Files.readAllBytes(empty)),
                    HostileModelFilesTest::predictor, WeightStore.SINGLE_FILE, "no tensors");
        } finally {
            Files.delete(empty);
        }
    }

    /** vocabTxtMutated: do_lower_case [] threw IllegalStateException (Gson's getAsBoolean of an array). */
    @Example
    void tokenizerConfigFlagThatIsNotABoolean() throws Exception {
        assertRefused(tinyModels.get(0), Map.of(TextTokenizer.TOKENIZER_CONFIG,
                "{\"do_lower_case\": []}".getBytes(StandardCharsets.UTF_8)), dir -> TextTokenizer.open(dir, 32),
                TextTokenizer.TOKENIZER_CONFIG, "do_lower_case");
    }

    /** Found reading the code (Gson's getAsString again): a special token's content [] threw IllegalStateException. */
    @Example
    void specialTokenContentThatIsNotAString() throws Exception {
        assertRefused(tinyModels.get(0), Map.of(TextTokenizer.SPECIAL_TOKENS_MAP,
                "{\"sep_token\": {\"content\": []}}".getBytes(StandardCharsets.UTF_8)),
                dir -> TextTokenizer.open(dir, 32), TextTokenizer.SPECIAL_TOKENS_MAP, "sep_token");
    }

    /**
     * tokenizerJsonMutated: a decoder holding NaN (or a number past a double, or nesting past 128) made the native
     * library panic ("Helper"), which aborted the JVM; so did a SentencePiece charsmap it cannot parse, and one
     * whose trie is empty, at the first encode. A regression aborts the test JVM.
     */
    @Example
    void tokenizerJsonTheNativeLibraryWouldAbortOn() throws Exception {
        Path seed = golden("xlm-roberta-cls");
        JsonObject tokenizer = JsonParser.parseString(Files.readString(seed.resolve(TextTokenizer.TOKENIZER_JSON)))
                .getAsJsonObject();
        List<String> hostile = new ArrayList<>();
        tokenizer.getAsJsonObject("decoder").addProperty("prepend_scheme", "PLACEHOLDER");
        hostile.add(tokenizer.toString().replace("\"PLACEHOLDER\"", "NaN"));
        hostile.add(tokenizer.toString().replace("\"PLACEHOLDER\"", "1e400"));
        hostile.add(tokenizer.toString().replace("\"PLACEHOLDER\"", deeplyNested(130).toString()));
        for (String charsmap : List.of("", "not base64", "AAAAAA==")) {
            JsonObject precompiled = new JsonObject();
            precompiled.addProperty("type", "Precompiled");
            precompiled.addProperty("precompiled_charsmap", charsmap);
            tokenizer.add("normalizer", precompiled);
            hostile.add(tokenizer.toString());
        }
        for (String json : hostile) {
            assertRefused(seed, Map.of(TextTokenizer.TOKENIZER_JSON, json.getBytes(StandardCharsets.UTF_8)),
                    dir -> TextTokenizer.open(dir, 32), TextTokenizer.TOKENIZER_JSON);
        }
    }

    /**
     * tokenizerJsonMutated: a Unigram piece of 200,000 characters crashed the JVM with SIGSEGV when the tokenizer
     * was closed on a thread of 1 MiB stack (its trie, a node per byte, is dropped recursively). Found reading the
     * code after it: a Split regex of 3000 nested groups overflows the stack in Oniguruma's parser. A regression
     * crashes the test JVM.
     */
    @Example
    void tokenizerJsonWhoseNativeRecursionOverflowsTheStack() throws Exception {
        Path seed = golden("deberta-v2-cls");
        Path json = seed.resolve(TextTokenizer.TOKENIZER_JSON);
        JsonObject split = new JsonObject();
        split.addProperty("type", "Split");
        JsonObject pattern = new JsonObject();
        pattern.addProperty("Regex", "(".repeat(3000) + "a" + ")".repeat(3000));
        split.add("pattern", pattern);
        split.addProperty("behavior", "Isolated");
        split.addProperty("invert", false);
        for (byte[] hostile : List.of(
                editedJson(json, t -> t.getAsJsonObject("model").getAsJsonArray("vocab").get(608).getAsJsonArray()
                        .set(0, new JsonPrimitive("x".repeat(200_000)))),
                editedJson(json, t -> t.add("pre_tokenizer", split)))) {
            assertRefused(seed, Map.of(TextTokenizer.TOKENIZER_JSON, hostile), dir -> TextTokenizer.open(dir, 32),
                    TextTokenizer.TOKENIZER_JSON);
        }
    }

    /**
     * tokenizerJsonMutated: a tokenizer.json that was a 230 kB array allocated over 70 MB before it was refused, most
     * of it Gson's message quoting the whole array; so did config.json, tokenizer_config.json and a safetensors header.
     */
    @Example
    void documentsThatAreNoObjectAreNotQuoted() throws Exception {
        byte[] array = hugeArray(100_000).toString().getBytes(StandardCharsets.UTF_8);
        Path seed = tinyModels.get(0);
        Path weights = Files.createTempFile(scratch, "array", ".safetensors");
        try {
            SafetensorsWriter.writeRaw(weights, new String(array, StandardCharsets.UTF_8), List.of());
            for (Map.Entry<String, byte[]> file : List.of(Map.entry("config.json", array),
                    Map.entry(WeightStore.SINGLE_FILE, Files.readAllBytes(weights)),
                    Map.entry(TextTokenizer.TOKENIZER_CONFIG, array), Map.entry(TextTokenizer.TOKENIZER_JSON, array))) {
                withModelDirectory(seed, Map.ofEntries(file), (dir, inputBytes) -> assertContained(dir, inputBytes,
                        () -> {
                            ModelException e = assertThrows(ModelException.class, () -> predictor(dir).close());
                            assertMentions(e, file.getKey(), "not a JSON object");
                            assertTrue(e.getMessage().length() < 500, "a message of " + e.getMessage().length());
                        }));
            }
        } finally {
            Files.delete(weights);
        }
    }

    /**
     * tokenizerJsonMutated: a Unigram model without unk_id loaded, then encoding an unknown character threw the
     * native library's RuntimeException.
     */
    @Example
    void tokenizerThatCannotEncodeUnknownCharacters() throws Exception {
        Path seed = golden("albert-cls");
        assertRefused(seed, Map.of(TextTokenizer.TOKENIZER_JSON, editedJson(seed.resolve(TextTokenizer.TOKENIZER_JSON),
                t -> t.getAsJsonObject("model").remove("unk_id"))), dir -> TextTokenizer.open(dir, 32),
                TextTokenizer.TOKENIZER_JSON, "cannot encode", "unk_id");
    }

    /** safetensorsWithMutatedHeader: a dtype of 0 was listed as dtype "0", not the header's number. */
    @Example
    void safetensorsDtypeThatIsNotAString() throws Exception {
        assertSafetensorsRefused("{\"t\": {\"dtype\": 0, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "dtype");
    }

    /**
     * generatedSafetensors: shape [2^62 + 1] F32 over 4 bytes passed the size check, its 2^64 + 4 bytes wrapping to
     * 4, and read as 1 value; "1", 1.5 and 2^64 + 1 read as the long 1.
     */
    @Example
    void safetensorsShapesThatAreNoCount() throws Exception {
        for (String shape : List.of("[4611686018427387905]", "[\"1\"]", "[1.5]", "[18446744073709551617]")) {
            assertSafetensorsRefused("{\"t\": {\"dtype\": \"F32\", \"shape\": " + shape
                    + ", \"data_offsets\": [0, 4]}}", 4, "'t'");
        }
    }

    /** Opens a seed's model and tokenizer as the CLI does. */
    private static Predictor predictor(Path dir) {
        return Predictor.open(dir, null, Device.cpu());
    }

    private static Path golden(String name) {
        return goldenModels.stream().filter(d -> d.endsWith(name)).findFirst().orElseThrow();
    }

    private static byte[] editedJson(Path file, Consumer<JsonObject> edit) throws IOException {
        JsonObject json = JsonParser.parseString(Files.readString(file)).getAsJsonObject();
        edit.accept(json);
        return json.toString().getBytes(StandardCharsets.UTF_8);
    }

    /** Opens a model directory's files. */
    @FunctionalInterface
    interface Opener {
        AutoCloseable open(Path dir) throws Exception;
    }

    /** The seed with {@code files} replaced is refused, within the bounds, by a ModelException mentioning each part. */
    private static void assertRefused(Path seed, Map<String, byte[]> files, Opener opener, String... mentions)
            throws Exception {
        withModelDirectory(seed, files, (dir, inputBytes) -> assertContained(dir, inputBytes,
                () -> assertMentions(assertThrows(ModelException.class, () -> opener.open(dir).close()), mentions)));
    }

    private static void assertSafetensorsRefused(String header, int dataBytes, String... mentions) throws Exception {
        Path file = Files.createTempFile(scratch, "weights", ".safetensors");
        try {
            SafetensorsWriter.writeRaw(file, header, List.of(new byte[dataBytes]));
            assertContained(file, Files.size(file), () -> assertMentions(assertThrows(ModelException.class,
                    () -> SafetensorsFile.open(file)), mentions));
        } finally {
            Files.deleteIfExists(file);
        }
    }

    private static void assertMentions(ModelException e, String... parts) {
        for (String part : parts) {
            assertTrue(e.getMessage().contains(part), "message should mention '" + part + "': " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // The checks
    // ---------------------------------------------------------------------------------------------------------

    /** A load, with the checks that its result is usable. */
    @FunctionalInterface
    interface Load {
        void run() throws Exception;
    }

    /** What a load did on the loader thread: what it threw (null if nothing) and how much it allocated. */
    private record Outcome(Throwable thrown, long allocatedBytes) {
    }

    /** {@link #assertContained}, counting loads and refusals (reported with -Djqwik.reporting.onlyfailures=false). */
    private static void assertLoadContained(Path named, long inputBytes, Load load) throws Exception {
        Statistics.collect(assertContained(named, inputBytes, load) == null ? "loaded" : "refused");
    }

    /**
     * Runs {@code load} within the time bound and checks that it allocates at most the allowance plus a bound per
     * input byte, and throws nothing but a ModelException that names {@code named} (a file, or the model directory),
     * which it returns (null where the load succeeded).
     */
    private static ModelException assertContained(Path named, long inputBytes, Load load) throws Exception {
        Future<Outcome> run = loader.submit(() -> {
            long before = THREADS.getCurrentThreadAllocatedBytes();
            Throwable thrown = null;
            try {
                load.run();
            } catch (Throwable t) { // errors too: an OutOfMemoryError or StackOverflowError is a finding
                thrown = t;
            }
            return new Outcome(thrown, THREADS.getCurrentThreadAllocatedBytes() - before);
        });
        Outcome outcome;
        try {
            outcome = run.get(TRY_LIMIT_SECONDS, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
            // The hung thread cannot be stopped; the next tries get a fresh one.
            loader.shutdownNow();
            loader = newLoader();
            throw new AssertionError("loading " + named + " did not finish within " + TRY_LIMIT_SECONDS + " s");
        }
        Throwable thrown = outcome.thrown();
        if (thrown instanceof AssertionError usabilityCheck) {
            throw usabilityCheck;
        }
        if (thrown != null && !(thrown instanceof ModelException)) {
            throw new AssertionError("loading " + named + " threw " + thrown, thrown);
        }
        if (thrown != null) {
            assertNames(named, (ModelException) thrown);
        }
        long bound = ALLOCATION_ALLOWANCE + ALLOCATION_PER_INPUT_BYTE * inputBytes;
        assertTrue(outcome.allocatedBytes() <= bound, "loading " + named + " (" + inputBytes + " bytes) allocated "
                + outcome.allocatedBytes() + " bytes, more than " + bound
                + (thrown == null ? "" : " before it threw " + thrown));
        return (ModelException) thrown;
    }

    private static void assertNames(Path named, ModelException e) {
        assertTrue(e.getMessage() != null && e.getMessage().contains(named.toString()),
                "ModelException does not name " + named + ": " + e.getMessage());
    }

    /** Opens a safetensors file: it must report exactly its header, and each tensor reads or refuses by name. */
    private static void assertSafetensorsContained(byte[] bytes) throws Exception {
        Path file = Files.createTempFile(scratch, "weights", ".safetensors");
        try {
            Files.write(file, bytes);
            assertLoadContained(file, bytes.length, () -> {
                SafetensorsFile opened = SafetensorsFile.open(file);
                assertReportsHeader(opened, headerOf(bytes));
                for (SafetensorsFile.TensorInfo t : opened.tensors().values()) {
                    try {
                        float[] values = opened.readFloats(t.name());
                        assertEquals(t.elementCount(), values.length, "values read of " + t.name() + " "
                                + Arrays.toString(t.shape()));
                    } catch (ModelException e) {
                        assertNames(file, e);
                    }
                }
            });
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** The header as the format defines it, read independently of the reader; null where there is none. */
    private static JsonObject headerOf(byte[] file) {
        if (file.length < 8) {
            return null;
        }
        long length = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        if (length <= 0 || length > file.length - 8) {
            return null;
        }
        try {
            return JsonParser.parseString(new String(file, 8, (int) length, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (RuntimeException e) {
            return null;
        }
    }

    /** Every tensor of the header is listed with its dtype string, shape and offsets as written, and nothing else. */
    private static void assertReportsHeader(SafetensorsFile opened, JsonObject header) {
        assertTrue(header != null, "opened a file whose header is not a JSON object");
        Set<String> names = new TreeSet<>(header.keySet());
        names.remove("__metadata__");
        assertEquals(names, new TreeSet<>(opened.tensors().keySet()));
        for (SafetensorsFile.TensorInfo t : opened.tensors().values()) {
            JsonObject entry = header.getAsJsonObject(t.name());
            assertEquals(new JsonPrimitive(t.dtypeName()), entry.get("dtype"), t.name() + ": dtype");
            assertIntegers(entry.getAsJsonArray("shape"), t.shape(), t.name() + ": shape");
            assertIntegers(entry.getAsJsonArray("data_offsets"), new long[] {t.begin(), t.end()},
                    t.name() + ": data_offsets");
        }
    }

    private static void assertIntegers(JsonArray written, long[] reported, String what) {
        assertEquals(written.size(), reported.length, what);
        for (int i = 0; i < reported.length; i++) {
            JsonElement w = written.get(i);
            assertTrue(w.isJsonPrimitive() && w.getAsJsonPrimitive().isNumber()
                    && new BigDecimal(w.getAsString()).compareTo(BigDecimal.valueOf(reported[i])) == 0,
                    what + " " + written + " reported as " + Arrays.toString(reported));
        }
    }

    /** Opens the directory's tokenizer as a BERT-convention model would, and encodes a text and a pair. */
    private static void openAndEncode(Path dir) {
        try (TextTokenizer t = TextTokenizer.open(dir, 32)) {
            for (EncodedText e : List.of(t.encode("the movie was not very good, 😀 café"),
                    t.encode("who won?", "the team won the game"))) {
                assertTrue(e.length() <= 32, "encoded " + e.length() + " tokens, more than the maximum 32");
            }
        }
    }

    /** Writes a try's model directory: the given files, links to the seed's other files. */
    @FunctionalInterface
    interface InDirectory {
        void accept(Path dir, long inputBytes) throws Exception;
    }

    private static void withModelDirectory(Path seed, Map<String, byte[]> files, InDirectory check) throws Exception {
        Path dir = Files.createTempDirectory(scratch, "model");
        try {
            long inputBytes = 0;
            try (Stream<Path> seedFiles = Files.list(seed)) {
                for (Path f : seedFiles.toList()) {
                    String name = f.getFileName().toString();
                    if (!files.containsKey(name)) {
                        Files.createSymbolicLink(dir.resolve(name), f);
                        inputBytes += Files.size(f);
                    }
                }
            }
            for (Map.Entry<String, byte[]> f : files.entrySet()) {
                Files.write(dir.resolve(f.getKey()), f.getValue());
                inputBytes += f.getValue().length;
            }
            check.accept(dir, inputBytes);
        } finally {
            deleteTree(dir);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Mutations
    // ---------------------------------------------------------------------------------------------------------

    /** One byte-level edit; positions wrap around the file's length. */
    record ByteEdit(Kind kind, int position, int value) {
        enum Kind { FLIP_BIT, SET_BYTE, INSERT_BYTES, DELETE_BYTES, TRUNCATE }

        byte[] apply(byte[] in) {
            int at = Math.floorMod(position, in.length + 1);
            ByteArrayOutputStream out = new ByteArrayOutputStream(in.length + 64);
            switch (kind) {
                case FLIP_BIT, SET_BYTE -> {
                    if (at == in.length) {
                        return in;
                    }
                    byte[] copy = in.clone();
                    copy[at] = kind == Kind.FLIP_BIT ? (byte) (copy[at] ^ (1 << (value & 7))) : (byte) value;
                    return copy;
                }
                case INSERT_BYTES -> {
                    out.write(in, 0, at);
                    for (int i = 0; i < (value & 63) + 1; i++) {
                        out.write(value >>> 8);
                    }
                    out.write(in, at, in.length - at);
                }
                case DELETE_BYTES -> {
                    int end = Math.min(in.length, at + (value & 63) + 1);
                    out.write(in, 0, at);
                    out.write(in, end, in.length - end);
                }
                case TRUNCATE -> out.write(in, 0, at);
            }
            return out.toByteArray();
        }
    }

    static byte[] applyBytes(byte[] in, List<ByteEdit> edits) {
        byte[] out = in;
        for (ByteEdit e : edits) {
            out = e.apply(out);
        }
        return out;
    }

    /**
     * One structural edit of a JSON document at its node {@code target} (wrapping around the node count, in
     * breadth-first order, so that small targets are the top-level keys).
     */
    record JsonEdit(Op op, int target, String key, JsonElement value) {
        enum Op { REPLACE, REMOVE, ADD, WRAP_IN_ARRAY }

        JsonElement apply(JsonElement root) {
            List<Node> nodes = nodesBreadthFirst(root);
            Node node = nodes.get(Math.floorMod(target, nodes.size()));
            JsonElement replacement = switch (op) {
                case REPLACE -> value.deepCopy();
                case REMOVE -> null;
                case WRAP_IN_ARRAY -> {
                    JsonArray a = new JsonArray();
                    a.add(node.value());
                    yield a;
                }
                case ADD -> {
                    if (node.value().isJsonObject()) {
                        node.value().getAsJsonObject().add(key, value.deepCopy());
                    } else if (node.value().isJsonArray()) {
                        node.value().getAsJsonArray().add(value.deepCopy());
                    } else {
                        yield value.deepCopy();
                    }
                    yield node.value();
                }
            };
            if (node.parent() == null) {
                return replacement == null ? JsonNull.INSTANCE : replacement;
            }
            if (node.parent().isJsonObject()) {
                if (replacement == null) {
                    node.parent().getAsJsonObject().remove(node.key());
                } else {
                    node.parent().getAsJsonObject().add(node.key(), replacement);
                }
            } else if (replacement == null) {
                node.parent().getAsJsonArray().remove(node.index());
            } else {
                node.parent().getAsJsonArray().set(node.index(), replacement);
            }
            return root;
        }

        @Override
        public String toString() { // a huge value would drown the failure report
            String v = value.toString();
            return "JsonEdit[" + op + " node " + target + ", key '" + key + "': "
                    + (v.length() > 200 ? v.substring(0, 200) + "… (" + v.length() + " characters)" : v) + "]";
        }
    }

    /** A node of a JSON tree with where it hangs: under {@code key} of an object or at {@code index} of an array. */
    private record Node(JsonElement parent, String key, int index, JsonElement value) {
    }

    private static List<Node> nodesBreadthFirst(JsonElement root) {
        List<Node> nodes = new ArrayList<>();
        Deque<Node> queue = new ArrayDeque<>(List.of(new Node(null, null, -1, root)));
        while (!queue.isEmpty()) {
            Node n = queue.removeFirst();
            nodes.add(n);
            if (n.value().isJsonObject()) {
                n.value().getAsJsonObject().entrySet().forEach(e -> queue.add(new Node(n.value(), e.getKey(), -1,
                        e.getValue())));
            } else if (n.value().isJsonArray()) {
                JsonArray a = n.value().getAsJsonArray();
                for (int i = 0; i < a.size(); i++) {
                    queue.add(new Node(a, null, i, a.get(i)));
                }
            }
        }
        return nodes;
    }

    /** JSON edits of a file (where it parses), then byte edits: either list may be empty. */
    record Mutation(List<JsonEdit> jsonEdits, List<ByteEdit> byteEdits) {
        byte[] apply(byte[] seed) {
            byte[] out = seed;
            if (!jsonEdits.isEmpty()) {
                JsonElement json = JsonParser.parseString(new String(seed, StandardCharsets.UTF_8));
                for (JsonEdit e : jsonEdits) {
                    json = e.apply(json);
                }
                out = json.toString().getBytes(StandardCharsets.UTF_8);
            }
            return applyBytes(out, byteEdits);
        }
    }

    /** The safetensors file with its header JSON edited and its length field rewritten to match. */
    static byte[] editHeader(byte[] file, List<JsonEdit> edits) {
        if (edits.isEmpty()) {
            return file;
        }
        long length = ByteBuffer.wrap(file, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        JsonElement header = JsonParser.parseString(new String(file, 8, (int) length, StandardCharsets.UTF_8));
        for (JsonEdit e : edits) {
            header = e.apply(header);
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        return ByteBuffer.allocate(8 + json.length + file.length - 8 - (int) length).order(ByteOrder.LITTLE_ENDIAN)
                .putLong(json.length).put(json).put(file, 8 + (int) length, file.length - 8 - (int) length).array();
    }

    /** A generated tensor: its data is {@code dataBytes} long, which may or may not match dtype and shape. */
    record GeneratedTensor(String name, String dtype, List<Long> shape, int dataBytes) {
    }

    /** The generated tensors as SafetensorsWriter writes them, the header length field off by the given error. */
    static byte[] safetensorsOf(List<GeneratedTensor> tensors, long headerLengthError) throws IOException {
        Map<String, Tensor> byName = new LinkedHashMap<>();
        for (GeneratedTensor t : tensors) {
            byte[] data = new byte[t.dataBytes()];
            new Random(t.hashCode()).nextBytes(data);
            byName.put(t.name(), new Tensor(t.dtype(), t.shape().stream().mapToLong(Long::longValue).toArray(), null,
                    data));
        }
        Path file = Files.createTempFile(scratch, "generated", ".safetensors");
        try {
            SafetensorsWriter.write(file, byName);
            byte[] bytes = Files.readAllBytes(file);
            ByteBuffer length = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN);
            length.putLong(0, length.getLong(0) + headerLengthError);
            return bytes;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Generators
    // ---------------------------------------------------------------------------------------------------------

    @Provide
    Arbitrary<Path> weightFiles() {
        return Arbitraries.of(Stream.concat(goldenModels.stream(), tinyModels.stream())
                .map(d -> d.resolve(WeightStore.SINGLE_FILE)).toList());
    }

    @Provide
    Arbitrary<Path> models() {
        return Arbitraries.of(Stream.concat(goldenModels.stream(), tinyModels.stream()).toList());
    }

    @Provide
    Arbitrary<Path> shardedModels() {
        return Arbitraries.of(shardedModels);
    }

    @Provide
    Arbitrary<Path> tokenizerJsonModels() {
        return Arbitraries.of(tokenizerJsonModels);
    }

    @Provide
    Arbitrary<Path> tinyModels() {
        return Arbitraries.of(tinyModels);
    }

    @Provide
    Arbitrary<List<ByteEdit>> byteEdits() {
        Arbitrary<Integer> position = Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.integers().between(0, 64)), // the length field and the header's start
                Tuple.of(3, Arbitraries.integers().between(0, 16 << 10)),
                Tuple.of(1, Arbitraries.integers()));
        return Combinators.combine(Arbitraries.of(ByteEdit.Kind.class), position, Arbitraries.integers())
                .as(ByteEdit::new).list().ofMaxSize(4);
    }

    @Provide
    Arbitrary<List<JsonEdit>> jsonEdits() {
        return jsonEdit().list().ofMaxSize(4);
    }

    @Provide
    Arbitrary<Mutation> mutations() {
        return Arbitraries.frequencyOf(
                Tuple.of(2, Combinators.combine(jsonEdit().list().ofMinSize(1).ofMaxSize(4), Arbitraries.just(
                        List.<ByteEdit>of())).as(Mutation::new)),
                Tuple.of(1, Combinators.combine(Arbitraries.just(List.<JsonEdit>of()), byteEdits()).as(Mutation::new)),
                Tuple.of(1, Arbitraries.just(new Mutation(List.of(), List.of()))));
    }

    private static Arbitrary<JsonEdit> jsonEdit() {
        Arbitrary<Integer> target = Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.integers().between(0, 40)),
                Tuple.of(1, Arbitraries.integers().greaterOrEqual(0)));
        return Combinators.combine(Arbitraries.of(JsonEdit.Op.class), target, keys(), hostileValue(2))
                .as(JsonEdit::new);
    }

    /** Keys the loaders read, and others. */
    private static Arbitrary<String> keys() {
        return Arbitraries.frequencyOf(
                Tuple.of(9, Arbitraries.of("model_type", "architectures", "vocab_size", "hidden_size", "dim",
                        "num_hidden_layers", "num_attention_heads", "intermediate_size", "max_position_embeddings",
                        "type_vocab_size", "pad_token_id", "num_labels", "id2label", "hidden_act", "layer_norm_eps",
                        "embedding_size", "position_embedding_type", "layer_types", "rope_parameters",
                        "pos_att_type", "position_buckets", "relative_attention", "global_attn_every_n_layers",
                        "local_attention", "num_hidden_groups", "dtype", "shape", "data_offsets", "__metadata__",
                        "model", "vocab", "added_tokens", "normalizer", "pre_tokenizer", "post_processor", "decoder",
                        "truncation", "padding", "do_lower_case", "tokenize_chinese_chars", "strip_accents",
                        "cls_token", "sep_token", "unk_token", "pad_token", "mask_token", "content", "id", "type",
                        "unk_id", "merges", "precompiled_charsmap", "normalizers", "weight_map", "metadata", "Regex",
                        "pattern", "")),
                Tuple.of(1, Arbitraries.strings().ofMaxLength(8)));
    }

    private static final List<JsonElement> NUMBERS = Stream.of("0", "-1", "1", "2", "3", "4", "64", "128", "255",
            "2147483647", "2147483648", "-2147483648", "4294967296", "9007199254740993", "4611686018427387905",
            "9223372036854775807", "-9223372036854775808", "18446744073709551617", "1e308", "-1e308", "1e400",
            "1e-320", "0.5", "-0.0", "64.0", "1e2")
            .<JsonElement>map(n -> new JsonPrimitive(new BigDecimal(n))).toList();

    private static final List<JsonElement> STRINGS = Stream.of("", "NaN", "Infinity", "-1", "64", "1e400", "F32",
            "F16", "BF16", "I64", "F64", "bert", "roberta", "deberta-v2", "modernbert", "distilbert", "gelu", "relu",
            "[CLS]", "[SEP]", "[UNK]", "<s>", "</s>", "<unk>", "\u0000", "\uD800", "true", "absolute",
            "full_attention", "sliding_attention", "c2p|p2c", "layer_norm", "WordPiece", "BPE", "Unigram",
            "BertForSequenceClassification", "RobertaForQuestionAnswering", "Precompiled", "Sequence", "Metaspace",
            "AAAAAA==", "BAAAAAAAAAA=", "not base64", "/", "..", "../config.json", "model-00001-of-00002.safetensors",
            "model-00002-of-00003.safetensors", "config.json", "Split", "(".repeat(3000) + ")".repeat(3000))
            .<JsonElement>map(JsonPrimitive::new).toList();

    /** Numbers at type limits, strings the loaders look for, nulls, containers, huge arrays, deep nesting. */
    private static Arbitrary<JsonElement> hostileValue(int depth) {
        Arbitrary<JsonElement> leaf = Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.of(NUMBERS)),
                Tuple.of(1, Arbitraries.longs().map(JsonPrimitive::new)),
                Tuple.of(1, Arbitraries.of(Double.NaN, Double.POSITIVE_INFINITY).map(JsonPrimitive::new)),
                Tuple.of(3, Arbitraries.of(STRINGS)),
                Tuple.of(1, Arbitraries.strings().ofMaxLength(12).map(JsonPrimitive::new)),
                Tuple.of(1, Arbitraries.integers().between(10_000, 200_000).map(n -> new JsonPrimitive("x".repeat(n)))),
                Tuple.of(2, Arbitraries.of(JsonNull.INSTANCE, new JsonPrimitive(true), new JsonPrimitive(false))),
                Tuple.of(1, Arbitraries.integers().between(1_000, 100_000).map(HostileModelFilesTest::hugeArray)),
                Tuple.of(1, Arbitraries.integers().between(100, 1_000).map(HostileModelFilesTest::deeplyNested)));
        if (depth == 0) {
            return leaf;
        }
        Arbitrary<JsonElement> inner = hostileValue(depth - 1);
        Arbitrary<JsonElement> array = inner.list().ofMaxSize(4).map(values -> {
            JsonArray a = new JsonArray();
            values.forEach(a::add);
            return a;
        });
        Arbitrary<JsonElement> object = Combinators.combine(keys(), inner).as(Map::entry).list().ofMaxSize(4)
                .map(entries -> {
                    JsonObject o = new JsonObject();
                    entries.forEach(e -> o.add(e.getKey(), e.getValue()));
                    return o;
                });
        return Arbitraries.frequencyOf(Tuple.of(8, leaf), Tuple.of(1, array), Tuple.of(1, object));
    }

    private static JsonElement hugeArray(int size) {
        JsonArray a = new JsonArray(size);
        for (int i = 0; i < size; i++) {
            a.add(64);
        }
        return a;
    }

    private static JsonElement deeplyNested(int depth) {
        JsonElement e = new JsonPrimitive(1);
        for (int i = 0; i < depth; i++) {
            JsonArray a = new JsonArray();
            a.add(e);
            e = a;
        }
        return e;
    }

    @Provide
    Arbitrary<List<GeneratedTensor>> generatedTensors() {
        Arbitrary<Long> dimension = Arbitraries.frequencyOf(
                Tuple.of(8, Arbitraries.longs().between(0, 5)),
                Tuple.of(2, Arbitraries.of(1L << 31, 1L << 32, (1L << 32) + 1, 1L << 62, (1L << 62) + 1,
                        Long.MAX_VALUE, (1L << 61) + 1, 3L << 61)),
                Tuple.of(1, Arbitraries.longs()));
        Arbitrary<String> dtype = Arbitraries.frequencyOf(
                Tuple.of(6, Arbitraries.of("F32", "F16", "BF16")),
                Tuple.of(1, Arbitraries.of("I64", "F64", "U8", "BOOL", "f32", "")));
        Arbitrary<String> name = Arbitraries.frequencyOf(
                Tuple.of(4, Arbitraries.strings().alpha().numeric().withChars('.', '_').ofMinLength(1).ofMaxLength(12)),
                Tuple.of(1, Arbitraries.of("", "__metadata__", "embeddings.word_embeddings.weight", "\u00e9\u4e2d")));
        Arbitrary<GeneratedTensor> tensor = Combinators.combine(name, dtype, dimension.list().ofMaxSize(4),
                Arbitraries.integers().between(0, 64), Arbitraries.of(true, true, true, false))
                .as((n, d, shape, extra, matching) -> new GeneratedTensor(n, d, shape,
                        matching ? matchingBytes(d, shape).orElse(extra) : extra));
        return tensor.list().ofMaxSize(5);
    }

    /** The byte count dtype and shape imply, computed as a reader with unchecked long arithmetic would (it wraps). */
    private static Optional<Integer> matchingBytes(String dtype, List<Long> shape) {
        long n = switch (dtype) {
            case "F32" -> 4;
            case "F16", "BF16" -> 2;
            default -> 8;
        };
        for (long d : shape) {
            n *= d;
        }
        return n >= 0 && n <= 4096 ? Optional.of((int) n) : Optional.empty();
    }

    @Provide
    Arbitrary<Long> headerLengthErrors() {
        return Arbitraries.frequencyOf(
                Tuple.of(8, Arbitraries.just(0L)),
                Tuple.of(1, Arbitraries.longs().between(-16, 16)),
                Tuple.of(1, Arbitraries.of(Long.MAX_VALUE / 2, Long.MIN_VALUE / 2, 100L << 20)));
    }

    @Provide
    Arbitrary<JsonObject> generatedConfigs() {
        Arbitrary<Spec> spec = Combinators.combine(
                Arbitraries.of("bert", "distilbert", "electra", "roberta", "xlm-roberta", "albert", "deberta-v2",
                        "modernbert", "mpnet"),
                Arbitraries.of(Task.SEQUENCE_CLASSIFICATION, Task.ENCODER))
                .as((type, task) -> Spec.of(EncoderFamilies.of(type), task));
        Arbitrary<List<Map.Entry<String, JsonElement>>> overrides = Combinators.combine(keys(), hostileValue(1))
                .as(Map::entry).list().ofMinSize(1).ofMaxSize(5);
        return Combinators.combine(spec, overrides).as((s, entries) -> {
            JsonObject c = TinyModels.config(s);
            entries.forEach(e -> c.add(e.getKey(), e.getValue().deepCopy()));
            return c;
        });
    }

    /**
     * A copy of a golden model whose normalizer first maps "a" to "A" with a SentencePiece charsmap, as XLM-R's,
     * ALBERT's and DeBERTa-v3's real ones carry.
     */
    private static Path withPrecompiledNormalizer(Path golden, Path dir) throws IOException {
        Files.createDirectories(dir);
        try (Stream<Path> files = Files.list(golden)) {
            for (Path f : files.toList()) {
                Files.createSymbolicLink(dir.resolve(f.getFileName()), f);
            }
        }
        JsonObject tokenizer = JsonParser.parseString(Files.readString(golden.resolve(TextTokenizer.TOKENIZER_JSON)))
                .getAsJsonObject();
        JsonObject precompiled = new JsonObject();
        precompiled.addProperty("type", "Precompiled");
        precompiled.addProperty("precompiled_charsmap", charsmapMappingSmallAToCapitalA());
        JsonArray normalizers = new JsonArray();
        normalizers.add(precompiled);
        normalizers.add(tokenizer.get("normalizer"));
        JsonObject sequence = new JsonObject();
        sequence.addProperty("type", "Sequence");
        sequence.add("normalizers", normalizers);
        tokenizer.add("normalizer", sequence);
        Path json = dir.resolve(TextTokenizer.TOKENIZER_JSON);
        Files.delete(json);
        Files.writeString(json, tokenizer.toString());
        return dir;
    }

    /**
     * spm_precompiled's format: [u32 trie bytes][u32 double-array units][NUL-ended strings]. The root's children sit
     * at 256 ^ byte; "a"'s unit (label 'a', leaf flag, offset 512) leads to its leaf, whose value 0 is "A".
     */
    private static String charsmapMappingSmallAToCapitalA() {
        int[] units = new int[1024];
        units[0] = 256 << 10;
        units[256 ^ 'a'] = 'a' | 1 << 8 | 512 << 10;
        units[256 ^ 'a' ^ 512] = 1 << 31;
        byte[] strings = "A\0".getBytes(StandardCharsets.UTF_8);
        ByteBuffer map = ByteBuffer.allocate(4 + 4 * units.length + strings.length).order(ByteOrder.LITTLE_ENDIAN);
        map.putInt(4 * units.length);
        for (int u : units) {
            map.putInt(u);
        }
        map.put(strings);
        return Base64.getEncoder().encodeToString(map.array());
    }

    private static final byte[] SPECIAL_TOKENS_MAP_SEED = ("{\"cls_token\": \"[CLS]\", \"sep_token\": {\"content\": "
            + "\"[SEP]\", \"lstrip\": false}, \"unk_token\": \"[UNK]\", \"pad_token\": \"[PAD]\", "
            + "\"mask_token\": \"[MASK]\"}").getBytes(StandardCharsets.UTF_8);

    // ---------------------------------------------------------------------------------------------------------

    private static ExecutorService newLoader() {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "hostile-model-files-loader");
            t.setDaemon(true);
            return t;
        });
    }

    private static void deleteTree(Path root) throws IOException {
        if (root == null || !Files.exists(root, LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(root)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
