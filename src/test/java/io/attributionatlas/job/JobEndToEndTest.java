package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.google.gson.JsonObject;
import io.attributionatlas.Fixtures;
import io.attributionatlas.analysis.HeadMetrics;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/** The job in Spark local mode: every table checked against the engine run directly, every row accounted for. */
class JobEndToEndTest {

    @TempDir
    static Path tmp;

    static SparkSession reader;

    @AfterAll
    static void stopReader() {
        if (reader != null) {
            reader.stop();
            reader = null;
        }
    }

    /** Status, stdout and stderr of one job run through its command line. */
    record Run(int status, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = JobCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /**
     * token_embeddings at layers 0 and 1 (-1, the last): every position of the dumped sample g0, a seeded half of the
     * others' positions (exactly the positions TokenSampling picks), each with its vector, context and attended tokens.
     */
    private static void assertTokenEmbeddings(Path output) {
        Map<String, Row> samples = table(output, Tables.SAMPLES).stream()
                .collect(Collectors.toMap(row -> row.getString(0), row -> row));
        List<Row> rows = table(output, Tables.TOKEN_EMBEDDINGS);
        Map<String, Set<Integer>> positions = new java.util.HashMap<>();
        for (Row e : rows) {
            int layer = e.<Integer>getAs("layer");
            assertTrue(layer == 0 || layer == TinyModels.LAYERS - 1, "layer " + layer);
            String id = e.getAs("id");
            List<String> tokens = samples.get(id).getList(samples.get(id).fieldIndex("tokens"));
            int position = e.<Integer>getAs("position");
            assertEquals(tokens.get(position), e.getAs("token"));
            assertEquals(TinyModels.HIDDEN, e.getList(e.fieldIndex("embedding")).size());
            List<String> context = e.getList(e.fieldIndex("context"));
            assertEquals(tokens.get(position), context.get(e.<Integer>getAs("context_position")));
            assertEquals(TinyModels.HEADS, e.getList(e.fieldIndex("attended_tokens")).size());
            assertTrue(tokens.containsAll(e.getList(e.fieldIndex("attended_tokens"))));
            if (layer == 0) {
                positions.computeIfAbsent(id, k -> new java.util.TreeSet<>()).add(position);
            }
        }
        assertEquals(rows.size(), 2 * positions.values().stream().mapToInt(Set::size).sum(), "both layers alike");
        TokenSampling sampling = new TokenSampling(0, 0.5, true);
        for (Row s : samples.values()) {
            String id = s.getString(0);
            int n = s.getList(s.fieldIndex("tokens")).size();
            Set<Integer> expected = new java.util.TreeSet<>();
            if (id.equals("g0")) {
                java.util.stream.IntStream.range(0, n).forEach(expected::add);
            } else {
                java.util.Arrays.stream(sampling.positions(id, n, false)).forEach(expected::add);
                assertTrue(expected.size() < n || n < 4, id + ": a sample, not every position");
            }
            assertEquals(expected, positions.getOrDefault(id, Set.of()), id);
        }
    }

    static List<Row> table(Path output, String name) {
        if (reader == null) {
            reader = SparkSession.builder().master("local[1]").appName("test-reader").config("spark.ui.enabled", "false")
                    .getOrCreate();
        }
        return reader.read().parquet(output.resolve(name).toString()).collectAsList();
    }

    static String[] columns(Path output, String name) {
        return reader.read().parquet(output.resolve(name).toString()).columns();
    }

    /** A tiny BERT classifier whose token "c" has a NaN embedding (for the non-finite case). */
    static Path tinyModelWithPoisonedToken() throws Exception {
        TinyModels.Spec spec = TinyModels.Spec.of(EncoderFamilies.of("bert"), Task.SEQUENCE_CLASSIFICATION).withWeightScale(0.15);
        Path dir = TinyModels.write(tmp.resolve("tiny"), spec);
        TinyModels.poisonToken(dir, spec, "c");
        return dir;
    }

    static String line(String id, String text, String pair, String label) {
        JsonObject o = new JsonObject();
        if (id != null) {
            o.addProperty("id", id);
        }
        o.addProperty("text", text);
        o.addProperty("pair", pair);
        o.addProperty("label", label);
        return o.toString();
    }

    /** Per task and through the executor's one shared engine queue: the same tables. */
    @ParameterizedTest
    @ValueSource(strings = {"per_task", "shared"})
    void tinyModelTablesMatchTheEngineAndEveryRowIsAccounted(String queue) throws Exception {
        Path model = tinyModelWithPoisonedToken();
        List<String> lines = new ArrayList<>(List.of(
                line("g0", "the movie was very good .", "a good plot", "class_0"),
                line("g1", "bad plot , bad acting", "the team", "1"),
                line("g2", "who won the game ?", "the team won", null),
                line(null, "not very good", "the acting", "class_2"),
                line("long", "the movie was good . ".repeat(12), "the plot", "class_1"),
                line("g5", "very good", "the game", "class_0"),
                line("null-text", null, "the plot", null),
                line("empty", "", "the plot", null),
                line("blank", "   ", "the plot", null),
                line("g1", "a duplicate id", "the plot", null),
                line("bad-label", "the plot", "the game", "class_9"),
                line("no-pair", "the movie", null, null),
                line("nan", "a b c", "the game", null)));
        Path input = tmp.resolve("corpus.jsonl");
        Files.write(input, lines);
        Path output = tmp.resolve("out-" + queue);
        Run r = run("run", "--model", model.toString(), "--input", input.toString(), "--output", output.toString(),
                "--set", "input.text_pair_column=pair", "--set", "input.label_column=label", "--set", "n_steps=8",
                "--set", "spark.master=local[2]", "--set", "batch.samples=3", "--set", "dump.ids=g0",
                "--set", "dump.count=1", "--set", "statistics.head_similarity_sample_rate=1",
                "--set", "engine.queue=" + queue, "--set", "embeddings.layers=0,-1", "--set",
                "embeddings.sample_rate=0.5");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("13 input rows -> 6 samples + 7 errors"), r.out());
        assertTokenEmbeddings(output);

        Map<String, String> reasons = table(output, Tables.ERRORS).stream()
                .collect(Collectors.toMap(row -> row.getString(1) + "@" + row.getLong(0), row -> row.getString(2)));
        assertEquals(7, reasons.size(), reasons.toString());
        assertEquals("text is null", reasons.get("null-text@6"));
        assertEquals("text is empty", reasons.get("empty@7"));
        assertEquals("text is whitespace only", reasons.get("blank@8"));
        assertTrue(reasons.get("g1@9").startsWith("duplicate id 'g1' (first used by input row 1)"), reasons.toString());
        assertTrue(reasons.get("bad-label@10").startsWith("label 'class_9' is not among the model's labels"));
        assertTrue(reasons.get("no-pair@11").startsWith("missing text pair"));
        assertTrue(reasons.get("nan@12").startsWith("non-finite results"), reasons.get("nan@12"));
        Row rawRow = table(output, Tables.ERRORS).stream().filter(row -> row.getString(1).equals("bad-label"))
                .findFirst().orElseThrow();
        assertTrue(rawRow.getString(3).contains("class_9"), "errors keep the raw input");

        List<Row> samples = table(output, Tables.SAMPLES);
        assertEquals(6, samples.size());
        assertEquals(List.of("id", "row_index", "text", "text_pair", "label", "input_ids", "tokens", "token_type_ids",
                "word_ids", "truncated", "flags", "prediction", "prediction_index", "logits", "probabilities",
                "answer_start", "answer_end", "targets"), List.of(columns(output, Tables.SAMPLES)));
        Map<String, Row> byId = samples.stream().collect(Collectors.toMap(row -> row.getString(0), row -> row));
        assertTrue(byId.containsKey("row-3"), "a missing id becomes row-<index>: " + byId.keySet());
        assertTrue(byId.get("long").getBoolean(9) && byId.get("long").getList(10).contains("truncated"));

        JobConfig config = JobConfig.load(null, Map.of("model.path", model.toString(), "n_steps", "8",
                "statistics.head_similarity_sample_rate", "1"));
        try (Predictor p = Predictor.open(model, null, Device.cpu());
                Explainer e = new Explainer(p, config.attributionOptions())) {
            List<String> ids = new ArrayList<>(byId.keySet());
            List<SampleAttribution> direct = e.attribute(ids.stream().map(id -> e.sample(new TextInput(id,
                    byId.get(id).getString(2), byId.get(id).getString(3)), null)).toList());
            double sepSum = 0;
            for (int k = 0; k < ids.size(); k++) {
                Row row = byId.get(ids.get(k));
                TargetAttribution t = direct.get(k).targets().get(0);
                Row target = (Row) row.getList(17).get(0);
                assertEquals(direct.get(k).prediction().label(), row.getString(11));
                assertEquals(t.fInput(), target.getDouble(3), 1e-5);
                assertFloats(t.igTokenSum(), target.getList(6), "token attributions " + ids.get(k));
                for (int l = 0; l < t.layerTokenSum().length; l++) {
                    List<scala.collection.Seq<Float>> conductance = target.getList(9);
                    assertFloats(t.layerTokenSum()[l], scala.jdk.javaapi.CollectionConverters.asJava(conductance.get(l)),
                            "conductance layer " + l);
                }
                sepSum += HeadMetrics.of(direct.get(k)).get("attn_sep")[1][2];
            }
            Row stat = table(output, Tables.HEAD_STATS).stream().filter(row -> row.getInt(0) == 1 && row.getInt(1) == 2
                    && row.getString(2).equals("attn_sep")).findFirst().orElseThrow();
            assertEquals(6, stat.getLong(3));
            assertEquals(sepSum / 6, stat.getDouble(4), 1e-6);
            // head_similarity, reduced on the device per sample (the poisoned row among them is an error row),
            // equals the host reference on the same samples' maps
            int flat = TinyModels.LAYERS * TinyModels.HEADS;
            double[] reference = new double[flat * flat];
            for (SampleAttribution s : direct) {
                double[] d = io.attributionatlas.analysis.HeadSimilarityReference.meanDistances(s.attentions());
                for (int i = 0; i < d.length; i++) {
                    reference[i] += d[i] / direct.size();
                }
            }
            for (Row row : table(output, Tables.HEAD_SIMILARITY)) {
                int x = row.getInt(0) * TinyModels.HEADS + row.getInt(1);
                int y = row.getInt(2) * TinyModels.HEADS + row.getInt(3);
                double expected = x == y ? 0 : reference[Math.min(x, y) * flat + Math.max(x, y)];
                assertEquals(expected, row.getDouble(4), 1e-5 * expected + 1e-7, "head_similarity " + x + ", " + y);
                assertEquals(6, row.getLong(5));
            }
        }

        Set<String> metrics = table(output, Tables.HEAD_STATS).stream().map(row -> row.getString(2))
                .collect(Collectors.toSet());
        assertTrue(metrics.containsAll(List.of("attn_self", "attn_next", "attn_prev", "attn_cls", "attn_sep",
                "attn_punct", "entropy", "cls_entropy", "norm_sep", "cond_sep", "cond_abs_sep", "head_importance")),
                metrics.toString());
        assertEquals(TinyModels.LAYERS * TinyModels.HEADS * metrics.size(), table(output, Tables.HEAD_STATS).size());
        List<Row> correlations = table(output, Tables.LAYER_CORRELATIONS);
        assertTrue(correlations.stream().anyMatch(row -> row.getString(0).equals("layer_conductance")
                && row.getInt(1) == 0 && row.getInt(2) == 0 && Math.abs(row.getDouble(3) - 1) < 1e-9));
        assertTrue(correlations.stream().anyMatch(row -> row.getString(0).equals("head_attention_vs_conductance")));
        int heads = TinyModels.LAYERS * TinyModels.HEADS;
        assertEquals(heads * heads, table(output, Tables.HEAD_SIMILARITY).size());
        List<Row> relations = table(output, Tables.HEAD_RELATIONS);
        assertEquals(heads * 20, relations.size(), "top 20 relations per head");
        assertTrue(table(output, Tables.TOKEN_IMPORTANCE).stream().anyMatch(row -> row.getString(0).equals("good")));
        List<Row> matrices = table(output, Tables.SAMPLE_MATRICES);
        assertEquals(Set.of("g0"), matrices.stream().map(row -> row.getString(0)).collect(Collectors.toSet()),
                "dump.ids=g0 and dump.count=1 (row 0 is g0)");
        Map<String, org.apache.spark.sql.types.StructType> schemas = Map.of(Tables.SAMPLES, Tables.SAMPLES_SCHEMA,
                Tables.SAMPLE_MATRICES, Tables.MATRICES_SCHEMA, Tables.ERRORS, Tables.ERRORS_SCHEMA,
                Tables.TOKEN_EMBEDDINGS, Tables.TOKEN_EMBEDDINGS_SCHEMA,
                Tables.HEAD_STATS, Tables.HEAD_STATS_SCHEMA, Tables.HEAD_RELATIONS, Tables.HEAD_RELATIONS_SCHEMA,
                Tables.LAYER_CORRELATIONS, Tables.LAYER_CORRELATIONS_SCHEMA, Tables.HEAD_SIMILARITY,
                Tables.HEAD_SIMILARITY_SCHEMA, Tables.TOKEN_IMPORTANCE, Tables.TOKEN_IMPORTANCE_SCHEMA,
                Tables.MANIFEST, Tables.MANIFEST_SCHEMA);
        schemas.forEach((name, schema) -> assertEquals(List.of(schema.fieldNames()), List.of(columns(output, name)),
                name + " schema"));
        Row manifest = table(output, Tables.MANIFEST).get(0);
        assertEquals(13, manifest.getLong(manifest.fieldIndex("input_rows")));
        assertEquals(6, manifest.getLong(manifest.fieldIndex("samples")));
        assertEquals(7, manifest.getLong(manifest.fieldIndex("errors")));
        assertEquals(0, manifest.getInt(manifest.fieldIndex("partitions_reused")));
        assertTrue(manifest.getString(4).startsWith("sha256:"));
        com.google.gson.JsonArray executors = com.google.gson.JsonParser.parseString(
                manifest.getString(manifest.fieldIndex("executors_json"))).getAsJsonArray();
        assertEquals(1, executors.size(), executors.toString());
        JsonObject executor = executors.get(0).getAsJsonObject();
        assertEquals("driver", executor.get("executor").getAsString(), "local mode: the driver's JVM");
        assertEquals("cpu()", executor.get("device").getAsString());
        assertEquals(6, executor.get("samples").getAsLong());
        assertTrue(executor.get("partitions").getAsLong() >= 1 && executor.get("engine_seconds").getAsDouble() > 0);
        assertTrue(executor.get("model_loads").getAsLong() >= 1, executors.toString());
        double statisticsSeconds = executor.get("statistics_seconds").getAsDouble();
        assertTrue(statisticsSeconds > 0 && executor.get("writing_seconds").getAsDouble() > 0, executors.toString());
        assertEquals(statisticsSeconds, manifest.getDouble(manifest.fieldIndex("statistics_seconds")), 1e-9);
        // peak memory: the driver's high-water mark, and Spark's polled RSS of its one executor (the same JVM) when
        // the job started the session itself (a session that already ran, as in a full test run, polls none)
        JsonObject memory = com.google.gson.JsonParser.parseString(manifest.getString(manifest.fieldIndex(
                "memory_json"))).getAsJsonObject();
        double driverPeak = memory.get("driver_vmhwm_mb").getAsDouble();
        assertTrue(driverPeak > 100, memory.toString());
        assertTrue(memory.getAsJsonObject("driver_vmhwm_mb_after_stage").has("explain"), memory.toString());
        JsonObject polled = memory.getAsJsonObject("executors_rss_mb");
        assertTrue(!polled.has("driver") || polled.get("driver").getAsDouble() <= driverPeak + 1, memory.toString());

        // Re-running into the same output replaces every table; nothing of the staging remains.
        Path small = tmp.resolve("small.jsonl");
        Files.write(small, List.of(line("x", "very good", "the plot", null), line("y", "bad", "the game", null),
                line("too-long", "the movie was good . ".repeat(12), "the plot", null)));
        Run again = run("run", "--model", model.toString(), "--input", small.toString(), "--output", output.toString(),
                "--set", "input.text_pair_column=pair", "--set", "n_steps=4", "--set", "truncation=error",
                "--set", "level=attention");
        assertEquals(0, again.status(), again.err());
        List<Row> attentionOnly = table(output, Tables.SAMPLES);
        assertEquals(2, attentionOnly.size());
        assertTrue(attentionOnly.stream().allMatch(row -> row.getList(17).isEmpty()), "level=attention: no targets");
        List<Row> tooLong = table(output, Tables.ERRORS);
        assertEquals(1, tooLong.size());
        assertTrue(tooLong.get(0).getString(2).startsWith("text longer than the model's 32 tokens"), tooLong.toString());
        assertTrue(table(output, Tables.HEAD_STATS).stream().noneMatch(row -> row.getString(2).startsWith("cond_")));
        assertEquals(0, table(output, Tables.SAMPLE_MATRICES).size());
        try (var files = Files.list(output)) {
            assertFalse(files.anyMatch(f -> f.getFileName().toString().startsWith("_staging")));
        }
    }

    private static void assertFloats(float[] expected, List<Float> actual, String what) {
        assertNotNull(actual, what);
        assertEquals(expected.length, actual.size(), what);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual.get(i), 1e-5, what + " [" + i + "]");
        }
    }

    @Test
    void labelsAreUsedWhenTheInputHasThemAndMalformedJsonLinesAreReportedAsSuch() throws Exception {
        Path model = TinyModels.write(tmp.resolve("tiny-labels"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.SEQUENCE_CLASSIFICATION));
        String broken = "{\"id\": \"broken\", \"text\": \"the plot";
        Path input = tmp.resolve("labels.jsonl");
        Files.write(input, List.of(line("a", "very good", null, "class_0"), line("b", "the plot", null, "MAYBE"),
                broken, line("c", "bad acting", null, null)));
        Path output = tmp.resolve("labels-out");
        Run r = run("run", "--model", model.toString(), "--input", input.toString(), "--output", output.toString(),
                "--set", "n_steps=4");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("4 input rows -> 2 samples + 2 errors"), r.out());
        Map<String, Row> errors = table(output, Tables.ERRORS).stream()
                .collect(Collectors.toMap(row -> row.getString(2), row -> row));
        assertTrue(errors.keySet().stream().anyMatch(reason -> reason.startsWith("label 'MAYBE' is not among")),
                "the label column is used without input.label_column: " + errors.keySet());
        Row malformed = errors.get("malformed JSON line (Unterminated string at character 35 path $.text)");
        assertNotNull(malformed, errors.keySet().toString());
        assertEquals(broken, malformed.getString(3), "the raw line is kept");
        assertEquals("row-2", malformed.getString(1));
        Map<String, String> labels = new HashMap<>();
        table(output, Tables.SAMPLES).forEach(row -> labels.put(row.getString(0), row.getString(4)));
        assertEquals("class_0", labels.get("a"));
        assertTrue(labels.containsKey("c") && labels.get("c") == null);

        Run off = run("run", "--model", model.toString(), "--input", input.toString(), "--output",
                tmp.resolve("labels-off").toString(), "--set", "n_steps=4", "--set", "input.label_column=none");
        assertEquals(0, off.status(), off.err());
        assertTrue(off.out().contains("4 input rows -> 3 samples + 1 errors"), off.out());
    }

    /** A RoBERTa model saved by transformers: its own special tokens (<s>, </s>, pad id 1) drive the statistics. */
    @Test
    void aRobertaModelRunsEndToEndWithItsOwnSpecialTokens() throws Exception {
        Path model = Fixtures.shared().resolve("golden/hf/roberta-cls");
        Path input = tmp.resolve("roberta.jsonl");
        Files.write(input, List.of(line("r1", "a gripping, funny and moving film", null, "positive"),
                line("r2", "Das war ein langweiliger Film.", null, null), line("r3", "   ", null, null),
                line("r4", "dull and tired", null, "negative")));
        Path output = tmp.resolve("roberta-out");
        Run r = run("run", "--model", model.toString(), "--input", input.toString(), "--output", output.toString(),
                "--set", "n_steps=8", "--set", "dump.count=1");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("4 input rows -> 3 samples + 1 errors"), r.out());
        List<Row> samples = table(output, Tables.SAMPLES);
        for (Row row : samples) {
            List<String> tokens = row.getList(6);
            assertEquals("<s>", tokens.get(0));
            assertEquals("</s>", tokens.get(tokens.size() - 1));
        }
        try (Predictor p = Predictor.open(model, null, Device.cpu());
                Explainer e = new Explainer(p, JobConfig.load(null, Map.of("n_steps", "8")).attributionOptions())) {
            double cls = 0;
            double sep = 0;
            for (Row row : samples) {
                SampleAttribution s = e.attribute(List.of(e.sample(new TextInput(row.getString(0), row.getString(2),
                        null), null))).get(0);
                assertFloats(s.targets().get(0).igTokenSum(), ((Row) row.getList(17).get(0)).getList(6),
                        row.getString(0));
                Map<String, float[][]> metrics = HeadMetrics.of(s);
                cls += metrics.get("attn_cls")[2][1];
                sep += metrics.get("attn_sep")[2][1];
            }
            for (String metric : List.of("attn_cls", "attn_sep")) {
                Row stat = table(output, Tables.HEAD_STATS).stream().filter(row -> row.getInt(0) == 2
                        && row.getInt(1) == 1 && row.getString(2).equals(metric)).findFirst().orElseThrow();
                assertEquals((metric.equals("attn_cls") ? cls : sep) / 3, stat.getDouble(4), 1e-6, metric);
                assertTrue(stat.getDouble(4) > 0, metric + ": attention to <s> / </s> is found");
            }
        }
    }

    /** methods: every method's scores in token_importance (word pieces and words), every pair in method_agreement. */
    @Test
    void methodsAreComparedAcrossTheCorpus() throws Exception {
        Path model = TinyModels.write(tmp.resolve("tiny-methods"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.SEQUENCE_CLASSIFICATION));
        Path input = tmp.resolve("methods.jsonl");
        List<String> texts = List.of("the movie was very good .", "bad acting , bad plot", "the team won the game",
                "not very good", "a b c movie");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            lines.add(line("m" + i, texts.get(i), null, null));
        }
        Files.write(input, lines);
        Path output = tmp.resolve("methods-out");
        Run r = run("run", "--model", model.toString(), "--input", input.toString(), "--output", output.toString(),
                "--set", "n_steps=4", "--set", "methods=integrated_gradients,occlusion,word_ablation,gradient_shap,"
                + "attention_attribution,value_zeroing,alti,decompx", "--set", "methods.faithfulness=true", "--set", "dump.count=1",
                "--set", "methods.decompx_bias=separate");
        assertEquals(0, r.status(), r.err());
        List<Row> importance = table(output, Tables.TOKEN_IMPORTANCE);
        for (String method : List.of("integrated_gradients", "occlusion", "word_ablation")) {
            for (String unit : List.of("word_piece", "word")) {
                assertTrue(importance.stream().anyMatch(row -> row.getString(2).equals(method)
                        && row.getString(3).equals(unit)), method + " " + unit);
            }
        }
        // The corpus statistic against the engine run directly: mean Spearman of IG vs occlusion on word pieces.
        try (Predictor p = Predictor.open(model, null, Device.cpu());
                Explainer e = new Explainer(p, JobConfig.load(null, Map.of("n_steps", "4", "methods",
                        "integrated_gradients,occlusion,word_ablation,gradient_shap,attention_attribution,value_zeroing,alti,"
                        + "decompx", "methods.decompx_bias", "separate"))
                        .attributionOptions())) {
            Map<String, List<Double>> byTarget = new HashMap<>();
            io.attributionatlas.analysis.CorpusStatistics direct = new io.attributionatlas.analysis.CorpusStatistics(
                    TinyModels.LAYERS, TinyModels.HEADS);
            Map<String, Row> samplesById = table(output, Tables.SAMPLES).stream()
                    .collect(Collectors.toMap(row -> row.getString(0), row -> row));
            for (int i = 0; i < texts.size(); i++) {
                SampleAttribution s = e.attribute(List.of(e.sample(new TextInput("m" + i, texts.get(i), null), null)))
                        .get(0);
                TargetAttribution t = s.targets().get(0);
                direct.add(s);
                // the samples table holds every method's token and word scores, as the engine computes them
                String id = "m" + i;
                Row written = (Row) samplesById.get(id).getList(17).get(0);
                Map<String, Row> methods = written.getJavaMap(written.fieldIndex("methods"));
                assertEquals(t.methods().keySet(), methods.keySet(), "methods of " + id);
                t.methods().forEach((name, scores) -> {
                    assertFloats(scores.tokenAttributions(), methods.get(name).getList(0), name + " tokens of " + id);
                    assertFloats(scores.wordAttributions(), methods.get(name).getList(1), name + " words of " + id);
                    if (scores.biasPart() == null) {
                        assertTrue(methods.get(name).isNullAt(2), name + " has no bias part");
                    } else {
                        assertEquals(scores.biasPart(), methods.get(name).getFloat(2), 1e-5 * Math.max(1,
                                Math.abs(scores.biasPart())), name + " bias part of " + id);
                    }
                });
                assertNotNull(methods.get("decompx").get(2), "decompx_bias=separate writes the bias part");
                List<Double> a = new ArrayList<>();
                List<Double> b = new ArrayList<>();
                for (int k = 0; k < s.sample().length(); k++) {
                    if (!s.sample().encoding().special()[k]) {
                        a.add((double) t.methods().get("integrated_gradients").tokenAttributions()[k]);
                        b.add((double) t.methods().get("occlusion").tokenAttributions()[k]);
                    }
                }
                double rho = io.attributionatlas.analysis.MethodAgreement.compare(
                        io.attributionatlas.analysis.MethodAgreement.rank(a.stream().mapToDouble(Double::doubleValue)
                                .toArray()),
                        io.attributionatlas.analysis.MethodAgreement.rank(b.stream().mapToDouble(Double::doubleValue)
                                .toArray()))[0]; // spearman
                byTarget.computeIfAbsent(t.label(), k -> new ArrayList<>()).add(rho);
            }
            // token_importance, aggregated by Spark from the partitions' sums, equals the statistics of the engine's
            // results kept in one map: every key, its count exactly, its means to rounding
            assertEquals(direct.tokenImportance().size(), importance.size(), "token_importance keys");
            for (Row row : importance) {
                double[] sums = direct.tokenImportance().get(new io.attributionatlas.schema.Keys.Token(
                        row.getString(2), row.getString(3), row.getString(0), row.getString(1)));
                assertNotNull(sums, row.toString());
                assertEquals((long) sums[0], row.getLong(4), row.toString());
                assertEquals(sums[1] / sums[0], row.getDouble(5), 1e-5 * (1 + Math.abs(sums[1] / sums[0])),
                        row.toString());
                assertEquals(sums[2] / sums[0], row.getDouble(6), 1e-5 * (1 + sums[2] / sums[0]), row.toString());
            }
            List<Row> agreement = table(output, Tables.METHOD_AGREEMENT);
            byTarget.forEach((target, values) -> {
                Row row = agreement.stream().filter(x -> x.getString(0).equals("integrated_gradients")
                        && x.getString(1).equals("occlusion") && x.getString(2).equals(target)
                        && x.getString(3).equals("word_piece") && x.getString(4).equals("spearman")).findFirst()
                        .orElseThrow();
                assertEquals(values.size(), row.getLong(5));
                assertEquals(values.stream().mapToDouble(Double::doubleValue).average().orElseThrow(), row.getDouble(6),
                        1e-6);
                assertEquals(values.size(), row.getList(10).stream().mapToLong(v -> (Long) v).sum(), "histogram");
            });
            assertEquals(28 * 2 * 6, agreement.stream().map(x -> x.getString(0) + x.getString(1) + x.getString(3)
                    + x.getString(4)).distinct().count(), "28 pairs of 8 methods × 2 units × 6 metrics");
            List<Row> faithfulness = table(output, Tables.FAITHFULNESS);
            assertEquals(9 * 2 * 4, faithfulness.stream().map(x -> x.getString(0) + x.getString(2) + x.getString(3))
                    .distinct().count(), "8 methods and random × 2 metrics × (3 fractions + AOPC)");
            assertEquals(TinyModels.LAYERS * TinyModels.HEADS, table(output, Tables.HEAD_STATS).stream()
                    .filter(x -> x.getString(2).equals("attention_attribution") && x.getLong(3) == texts.size()).count(),
                    "attention attribution aggregated per head over every sample");
            assertEquals(TinyModels.LAYERS * TinyModels.HEADS, table(output, Tables.HEAD_STATS).stream()
                    .filter(x -> x.getString(2).equals("alti") && x.getLong(3) == texts.size()).count(),
                    "ALTI's per-head contribution mass aggregated per head over every sample");
            Row dumped = table(output, Tables.SAMPLE_MATRICES).get(0);
            assertEquals(TinyModels.LAYERS, dumped.getList(dumped.fieldIndex("attention_attribution")).size());
            Map<String, scala.collection.Seq<?>> decompositions = dumped.getJavaMap(dumped.fieldIndex("decompositions"));
            assertEquals(java.util.Set.of("value_zeroing", "alti", "decompx", "decompx" + Tables.PART_NORMS_SUFFIX),
                    decompositions.keySet(), "the dumped sample's per-layer token-to-token matrices of each "
                    + "decomposition method, and DecompX's part norms");
            int length = dumped.getList(dumped.fieldIndex("tokens")).size();
            decompositions.values().forEach(m -> {
                assertEquals(TinyModels.LAYERS, m.length());
                assertEquals(length, ((scala.collection.Seq<?>) m.apply(0)).length());
            });
            long perTarget = faithfulness.stream().filter(x -> x.getString(0).equals("random")
                    && x.getString(2).equals("comprehensiveness") && x.getString(3).equals("aopc"))
                    .mapToLong(x -> x.getLong(4)).sum();
            assertEquals(texts.size(), perTarget, "every sample counted once");
        }
    }

    @Test
    void realModelSliceMatchesTheEngine() throws Exception {
        Path input = tmp.resolve("sst2.csv");
        Files.writeString(input, "sentence,label\n\"A gorgeous, witty, seductive movie.\",POSITIVE\n"
                + "The acting is bad and the plot is worse.,NEGATIVE\nIt's a charming journey.,1\n");
        Path output = tmp.resolve("real");
        Run r = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                output.toString(), "--set", "input.text_column=sentence", "--set", "input.label_column=label",
                "--set", "n_steps=8", "--set", "target=label");
        assertEquals(0, r.status(), r.err());
        List<Row> samples = table(output, Tables.SAMPLES);
        assertEquals(3, samples.size());
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer e = new Explainer(p, JobConfig.load(null, Map.of("n_steps", "8", "target", "label"))
                        .attributionOptions())) {
            Map<String, Integer> labels = new HashMap<>(Map.of("POSITIVE", 1, "NEGATIVE", 0, "1", 1));
            for (Row row : samples) {
                SampleAttribution s = e.attribute(List.of(e.sample(new TextInput(row.getString(0), row.getString(2),
                        null), labels.get(row.getString(4))))).get(0);
                Row target = (Row) row.getList(17).get(0);
                assertEquals(s.targets().get(0).index(), target.getInt(1), "target = the row's label");
                assertFloats(s.targets().get(0).igTokenSum(), target.getList(6), row.getString(2));
            }
        }
        assertTrue(r.out().contains("top heads by attention to [SEP]"), r.out());
    }

    @Test
    void configurationAndModelErrorsFailBeforeSpark() throws Exception {
        Path input = tmp.resolve("one.jsonl");
        Files.writeString(input, "{\"text\": \"good\"}\n");
        Run unknownKey = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                tmp.resolve("x").toString(), "--set", "n_stepz=5");
        assertEquals(2, unknownKey.status());
        assertTrue(unknownKey.err().contains("unknown configuration key 'n_stepz'"), unknownKey.err());
        Run noGpu = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                tmp.resolve("x").toString(), "--set", "engine.device=gpu");
        assertEquals(2, noGpu.status());
        assertTrue(noGpu.err().contains("a GPU was asked for, but PyTorch sees no GPU"), noGpu.err());
        Run badDevice = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                tmp.resolve("x").toString(), "--set", "engine.device=gpu0");
        assertEquals(2, badDevice.status());
        assertTrue(badDevice.err().contains("expected auto, cpu, gpu or gpu:N"), badDevice.err());
        Run badValue = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                tmp.resolve("x").toString(), "--set", "level=everything");
        assertEquals(2, badValue.status());
        assertTrue(badValue.err().contains("level: expected attention, gradient or full"), badValue.err());
        Run noModel = run("run", "--model", tmp.resolve("nowhere").toString(), "--input", input.toString(), "--output",
                tmp.resolve("x").toString());
        assertEquals(2, noModel.status());
        assertTrue(noModel.err().contains("nowhere") && noModel.err().contains("model directory not found"),
                noModel.err());
        Run missingColumn = run("run", "--model", Fixtures.realModel().toString(), "--input", input.toString(),
                "--output", tmp.resolve("x").toString(), "--set", "input.text_column=sentence");
        assertEquals(2, missingColumn.status());
        assertTrue(missingColumn.err().contains("column 'sentence' (input.text_column) not found"), missingColumn.err());
        assertFalse(Files.exists(tmp.resolve("x").resolve(Tables.SAMPLES)));
    }
}
