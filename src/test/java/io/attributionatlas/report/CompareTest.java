package io.attributionatlas.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import io.attributionatlas.Fixtures;
import io.attributionatlas.job.JobCli;
import io.attributionatlas.model.SafetensorsFile;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * atlas compare on the demo corpus: the real model against a copy whose last layer's attention is perturbed (query
 * and value projections zeroed: uniform attention over zero values in layer 5). Head shifts are zero before the perturbed layer and not in it, flips are exactly
 * the samples whose predictions differ, a run against itself gives no shift and no flip, runs over different
 * inputs are refused, and the page renders in headless Chromium with hostile text kept inert.
 */
class CompareTest {

    private static final int ROWS = 48;
    private static final String PERTURBED_LAYER = "bert.encoder.layer.5.attention.self.";

    @TempDir
    static Path tmp;
    static SparkSession spark;
    static Path runA;
    static Path runB;
    static Path input;

    private static int job(Path model, Path in, Path out) {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = JobCli.run(new String[] {"run", "--model", model.toString(), "--input", in.toString(),
            "--output", out.toString(), "--set", "input.text_column=sentence", "--set", "input.label_column=label",
            "--set", "level=gradient", "--set", "batch.samples=8", "--set", "partitions=2", "--set",
            "embeddings.layers="}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        return status;
    }

    @BeforeAll
    static void twoRuns() throws Exception {
        List<String> csv = Files.readAllLines(Path.of("src/demo/sst2-dev-500.csv"), StandardCharsets.UTF_8);
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < ROWS; i++) {
            String line = csv.get(i + 1);
            String text = line.substring(line.indexOf(',') + 1, line.lastIndexOf(','));
            JsonObject o = new JsonObject();
            o.addProperty("id", line.substring(0, line.indexOf(',')));
            o.addProperty("sentence", text.startsWith("\"") ? text.substring(1, text.length() - 1).replace("\"\"", "\"")
                    : text);
            // class indices, which the other family's model (other label names) reads too
            o.addProperty("label", line.endsWith(",POSITIVE") ? "1" : "0");
            lines.add(o.toString());
        }
        JsonObject hostile = new JsonObject();
        hostile.addProperty("id", "<img src=x onerror=alert(1)>");
        hostile.addProperty("sentence", ExplorationTest.HOSTILE);
        hostile.addProperty("label", "1");
        lines.add(hostile.toString());
        input = tmp.resolve("demo.jsonl");
        Files.write(input, lines, StandardCharsets.UTF_8);
        Path real = Fixtures.realModel();
        Path perturbed = tmp.resolve("perturbed");
        Files.createDirectories(perturbed);
        try (var files = Files.list(real)) {
            for (Path f : files.toList()) {
                Files.copy(f, perturbed.resolve(f.getFileName()));
            }
        }
        zero(perturbed.resolve("model.safetensors"), PERTURBED_LAYER + "query.weight", PERTURBED_LAYER + "query.bias",
                PERTURBED_LAYER + "value.weight", PERTURBED_LAYER + "value.bias");
        runA = tmp.resolve("a");
        runB = tmp.resolve("b");
        job(real, input, runA);
        job(perturbed, input, runB);
        spark = SparkSession.builder().master("local[1]").appName("compare-test").config("spark.ui.enabled", "false")
                .getOrCreate();
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    /** Overwrites the named tensors' bytes with zeros. */
    private static void zero(Path file, String... names) throws Exception {
        Map<String, SafetensorsFile.TensorInfo> tensors = SafetensorsFile.open(file).tensors();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer header = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            ch.read(header, 0);
            long data = 8 + header.flip().getLong();
            for (String name : names) {
                SafetensorsFile.TensorInfo t = tensors.get(name);
                ch.write(ByteBuffer.allocate((int) (t.end() - t.begin())), data + t.begin());
            }
        }
    }

    private static int compare(Path a, Path b, Path out, ByteArrayOutputStream err) {
        return io.attributionatlas.cli.AtlasCli.run(new String[] {"compare", "--run", a.toString(), "--run",
            b.toString(), "--out", out.toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
    }

    private static List<Row> table(Path dir, String name) {
        return spark.read().parquet(dir.resolve(name).toString()).collectAsList();
    }

    @Test
    void shiftsStartAtThePerturbedLayerAndFlipsAreExactlyTheChangedPredictions() throws Exception {
        Path out = tmp.resolve("a-vs-b");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, compare(runA, runB, out, err), err.toString(StandardCharsets.UTF_8));
        List<Row> heads = table(out, "compare_heads");
        assertEquals(Set.of("layer_and_head"), heads.stream().map(r -> r.<String>getAs("matched_by"))
                .collect(Collectors.toSet()));
        // forward metrics (attention and its norms) are the layers' own; gradient ones (head importance,
        // conductance) reach back from the output, so a later layer moves them everywhere
        java.util.function.Predicate<Row> forward = r -> !r.<String>getAs("metric").startsWith("cond")
                && !r.<String>getAs("metric").equals(io.attributionatlas.schema.Metrics.HEAD_IMPORTANCE);
        assertTrue(heads.stream().anyMatch(forward.negate()), "gradient metrics compared too");
        double before = heads.stream().filter(forward).filter(r -> r.<Integer>getAs("layer") < 5)
                .mapToDouble(r -> Math.abs(r.<Double>getAs("shift"))).max().orElseThrow();
        double at = heads.stream().filter(forward).filter(r -> r.<Integer>getAs("layer") == 5)
                .mapToDouble(r -> Math.abs(r.<Double>getAs("shift"))).max().orElseThrow();
        assertTrue(before <= 1e-6, "no shift before the perturbed layer: " + before);
        assertTrue(at > 1e-2, "the perturbed layer shifts: " + at);
        Map<String, String> predictedA = table(runA, "samples").stream().collect(Collectors.toMap(
                r -> r.<String>getAs("id"), r -> r.<String>getAs("prediction")));
        Map<String, String> predictedB = table(runB, "samples").stream().collect(Collectors.toMap(
                r -> r.<String>getAs("id"), r -> r.<String>getAs("prediction")));
        Set<String> changed = predictedA.keySet().stream().filter(id -> !predictedA.get(id).equals(predictedB.get(id)))
                .collect(Collectors.toSet());
        assertFalse(changed.isEmpty(), "the perturbation flips some predictions");
        List<Row> samples = table(out, "compare_samples");
        assertEquals(ROWS + 1, samples.size());
        assertEquals(changed, samples.stream().filter(r -> r.<Boolean>getAs("flip")).map(r -> r.<String>getAs("id"))
                .collect(Collectors.toSet()), "flips are the samples whose prediction differs");
        assertTrue(samples.stream().allMatch(r -> r.getAs("spearman") == null
                || Math.abs(r.<Double>getAs("spearman")) <= 1 + 1e-12));
        assertFalse(table(out, "compare_tokens").isEmpty(), "word rank shifts");

        String page = Files.readString(out.resolve("compare.html"));
        Files.copy(out.resolve("compare.html"), Path.of("target/compare-test.html"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING); // to look at
        assertFalse(page.contains("<script>alert") || page.contains("<img src=x"), "corpus text is escaped");
        Process dom = new ProcessBuilder(ExplorationTest.chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--user-data-dir=" + tmp.resolve("chromium-profile"), "--dump-dom",
                out.resolve("compare.html").toUri().toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String rendered = new String(dom.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(dom.waitFor(120, TimeUnit.SECONDS));
        assertTrue(rendered.contains("Head metric shifts") && rendered.split("<svg", -1).length > 10,
                "the page renders its charts");
        assertFalse(rendered.contains("<img src=\"x\"") || java.util.regex.Pattern.compile("<script>\\s*alert")
                .matcher(rendered).find(), "no injected element");
    }

    @Test
    void aRunAgainstItselfHasNoShiftAndNoFlip() {
        Path out = tmp.resolve("a-vs-a");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, compare(runA, runA, out, err), err.toString(StandardCharsets.UTF_8));
        assertTrue(table(out, "compare_heads").stream().allMatch(r -> r.<Double>getAs("shift") == 0.0));
        List<Row> samples = table(out, "compare_samples");
        assertTrue(samples.stream().noneMatch(r -> r.<Boolean>getAs("flip")));
        assertTrue(samples.stream().allMatch(r -> r.<Double>getAs("delta_confidence") == 0.0));
        assertTrue(samples.stream().filter(r -> r.getAs("spearman") != null)
                .allMatch(r -> Math.abs(r.<Double>getAs("spearman") - 1) < 1e-12), "identical word attributions");
        assertTrue(table(out, "compare_tokens").stream().allMatch(r -> r.<Integer>getAs("rank_shift") == 0));
        assertTrue(samples.stream().filter(r -> r.getAs("words") != null).allMatch(r -> "word".equals(r.getAs(
                "word_unit"))), "the same tokenizer: its own words");
    }

    /**
     * Another family with another tokenizer (a tiny RoBERTa: byte-level BPE, cased, 2 layers, 3 classes) against the
     * real MiniLM (uncased WordPiece, 6 layers): word attributions meet on the text's whitespace words, every word of
     * every sample; heads by relative depth; words by their text without case.
     */
    @Test
    void anotherTokenizerIsComparedOnTheTextsWords() throws Exception {
        Path runR = tmp.resolve("roberta");
        job(Fixtures.golden("hf/roberta-cls"), input, runR);
        Path out = tmp.resolve("a-vs-roberta");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(0, compare(runA, runR, out, err), err.toString(StandardCharsets.UTF_8));
        List<Row> samples = table(out, "compare_samples");
        assertEquals(ROWS + 1, samples.size());
        for (Row r : samples) {
            assertEquals("text_word", r.getAs("word_unit"), r.toString());
            assertEquals(io.attributionatlas.analysis.TextWords.count(r.getAs("text"), null), r.<Integer>getAs("words"),
                    "every whitespace word scored by both: " + r);
            assertTrue(r.<Integer>getAs("words") < 2 || r.getAs("spearman") != null, r.toString());
        }
        assertEquals(Set.of("relative_depth"), table(out, "compare_heads").stream().map(r -> r.<String>getAs(
                "matched_by")).collect(Collectors.toSet()));
    }

    @Test
    void runsOverDifferentInputsAreRefused() throws Exception {
        Path other = tmp.resolve("other.jsonl");
        Files.write(other, Files.readAllLines(input).subList(0, 6));
        Path runC = tmp.resolve("c");
        job(Fixtures.realModel(), other, runC);
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(2, compare(runA, runC, tmp.resolve("a-vs-c"), err));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("refused: runs over different inputs: the input "
                + "fingerprints differ"), err.toString(StandardCharsets.UTF_8));
    }
}
