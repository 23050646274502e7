package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.google.gson.JsonObject;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Rows at the model's maximum length in a job whose JVM has a 2 GB heap: the job completes, every row is
 * accounted for, the long rows equal the engine on each row alone, and the process's peak resident memory
 * stays under heap + task slots × 2 × engine.memory_mb (the allocator keeps freed blocks: see
 * MemoryBudgetTest) + 1 GB (libtorch, the model, the JVM's own memory) = 7,168 MB. Before the memory budget
 * the same job passed 21 GB.
 */
class LongInputsJobTest {

    private static final int HEAP_MB = 2048;
    private static final int MEMORY_MB = 1024;
    private static final int TASK_SLOTS = 2;
    private static final int FIXED_MB = 1024;

    @TempDir
    static Path tmp;

    @AfterAll
    static void stopReader() {
        JobEndToEndTest.stopReader();
    }

    @Test
    void longRowsRunInBoundedMemoryAndEqualTheEngineAlone() throws Exception {
        List<String> sentences = Files.readAllLines(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"))
                .stream().skip(1).map(l -> l.replaceAll(",(neg|pos)$", "").replace("\"", "")).toList();
        List<String> lines = new ArrayList<>();
        List<String> longIds = List.of("long-0", "long-1", "long-2");
        for (int k = 0; k < longIds.size(); k++) {
            // about 3,000 characters: past 512 tokens, so truncated at the maximum length and flagged
            lines.add(line(longIds.get(k), String.join(" ", sentences.subList(40 * k, 40 * k + 40))));
        }
        for (int k = 0; k < 9; k++) {
            lines.add(line("short-" + k, sentences.get(200 + k)));
        }
        java.util.Collections.shuffle(lines, new java.util.Random(7));
        Path input = tmp.resolve("long.jsonl");
        Files.write(input, lines);
        Path output = tmp.resolve("out");

        Fixtures.Forked run = Fixtures.fork(List.of("-Xmx" + HEAP_MB + "m"), PeakMemoryMain.class, List.of("run",
                "--model", Fixtures.realModel().toString(), "--input", input.toString(), "--output",
                output.toString(), "--set", "n_steps=8", "--set", "spark.master=local[" + TASK_SLOTS + "]",
                "--set", "engine.memory_mb=" + MEMORY_MB, "--set", "batch.samples=4"), 15);
        String log = run.output();
        assertEquals(0, run.status(), log);
        // counts from the manifest: the forked console mixes Spark's log lines from other threads into ours
        Row manifest = JobEndToEndTest.table(output, Tables.MANIFEST).get(0);
        assertEquals(List.of(12L, 12L, 0L), List.of(manifest.<Long>getAs("input_rows"),
                manifest.<Long>getAs("samples"), manifest.<Long>getAs("errors")), log);
        long peakMb = Long.parseLong(log.substring(log.lastIndexOf("VmHWM_MB=") + 9).trim());
        long boundMb = HEAP_MB + 2L * TASK_SLOTS * MEMORY_MB + FIXED_MB;
        System.out.println("long inputs job: peak resident " + peakMb + " MB (bound " + boundMb + " MB)");
        assertTrue(peakMb < boundMb, "peak resident memory " + peakMb + " MB, bound " + boundMb + " MB");

        Map<String, Row> samples = JobEndToEndTest.table(output, Tables.SAMPLES).stream()
                .collect(Collectors.toMap(row -> row.getString(0), row -> row));
        assertEquals(12, samples.size());
        JobConfig config = JobConfig.load(null, Map.of("n_steps", "8"));
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer e = new Explainer(p, config.attributionOptions())) {
            for (String id : longIds) {
                Row row = samples.get(id);
                assertEquals(512, row.getList(5).size(), id + " is at the maximum length");
                assertTrue(row.getList(10).contains("truncated"), id + " is flagged");
                SampleAttribution alone = e.attribute(List.of(e.sample(new TextInput(id, row.getString(2), null),
                        null))).get(0);
                Row target = (Row) row.getList(17).get(0);
                assertEquals(alone.targets().get(0).fInput(), target.getDouble(3), 1e-5);
                List<Float> ig = target.getList(6);
                float[] expected = alone.targets().get(0).igTokenSum();
                for (int i = 0; i < expected.length; i++) {
                    assertEquals(expected[i], ig.get(i), 1e-5, id + " IG [" + i + "]");
                }
                List<scala.collection.Seq<Float>> conductance = target.getList(9);
                for (int l = 0; l < conductance.size(); l++) {
                    List<Float> layer = scala.jdk.javaapi.CollectionConverters.asJava(conductance.get(l));
                    for (int i = 0; i < layer.size(); i++) {
                        assertEquals(alone.targets().get(0).layerTokenSum()[l][i], layer.get(i), 1e-5,
                                id + " conductance layer " + l + " [" + i + "]");
                    }
                }
            }
        }
    }

    private static String line(String id, String text) {
        JsonObject o = new JsonObject();
        o.addProperty("id", id);
        o.addProperty("text", text);
        return o.toString();
    }
}
