package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.spark.SparkContext$;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bad input is answered before Spark starts: each case exits 2 with its message and no usage block, and no
 * SparkContext was created (checked in a JVM of its own, where no other test's session can be). A corpus with a
 * header and no rows is refused by default and runs to empty tables with input.allow_empty=true.
 */
class InputChecksTest {

    @TempDir
    static Path tmp;

    /** Runs each case (name, then job arguments, separated by "--case") and prints one JSON line per case. */
    public static final class CasesMain {
        private CasesMain() {
        }

        public static void main(String[] args) {
            List<List<String>> cases = new ArrayList<>();
            for (String a : args) {
                if (a.equals("--case")) {
                    cases.add(new ArrayList<>());
                } else {
                    cases.get(cases.size() - 1).add(a);
                }
            }
            for (List<String> c : cases) {
                ByteArrayOutputStream err = new ByteArrayOutputStream();
                long t0 = System.nanoTime();
                int status = JobCli.run(c.subList(1, c.size()).toArray(String[]::new),
                        new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8));
                JsonObject o = new JsonObject();
                o.addProperty("case", c.get(0));
                o.addProperty("status", status);
                o.addProperty("err", err.toString(StandardCharsets.UTF_8));
                // a context created (and stopped) would have left its scheduler thread or its active-context slot
                o.addProperty("spark", SparkContext$.MODULE$.getActive().isDefined() || Thread.getAllStackTraces()
                        .keySet().stream().anyMatch(t -> t.getName().startsWith("dag-scheduler")));
                o.addProperty("ms", (System.nanoTime() - t0) / 1_000_000);
                System.out.println("CASE " + o);
            }
            System.out.flush();
            Runtime.getRuntime().halt(0);
        }
    }

    @Test
    void badInputExitsTwoWithItsMessageBeforeSparkStarts() throws Exception {
        Path model = SyntheticCorpus.tinyModel(tmp.resolve("tiny-model"), 1);
        Path good = tmp.resolve("good.csv");
        Files.writeString(good, "id,sentence,label\na,a fine film,0\n");
        Path empty = tmp.resolve("empty.csv");
        Files.writeString(empty, "");
        Path headerOnly = tmp.resolve("header-only.csv");
        Files.writeString(headerOnly, "id,sentence,label\n");
        Path notJson = tmp.resolve("not-json.jsonl");
        Files.writeString(notJson, "this is not JSON\n[1, 2]\n");
        Path jsonNoText = tmp.resolve("no-text.jsonl");
        Files.writeString(jsonNoText, "{\"id\": \"a\", \"body\": \"a fine film\"}\n");
        Path emptyParquetDir = tmp.resolve("empty-folder");
        Files.createDirectories(emptyParquetDir);
        Map<String, List<String>> cases = new LinkedHashMap<>();
        cases.put("missing.csv: not found", args(model, tmp.resolve("missing.csv"), "sentence"));
        cases.put("the file is empty (0 bytes)", args(model, empty, "sentence"));
        cases.put("column 'text' (input.text_column) not found; the input has columns [id, sentence, label]",
                args(model, good, "text"));
        cases.put("column 'gold' (input.label_column) not found", with(args(model, good, "sentence"),
                "input.label_column=gold"));
        cases.put("no rows (only a header: [id, sentence, label]); set input.allow_empty=true", args(model, headerOnly,
                "sentence"));
        cases.put("the first rows are not JSON objects, one a line (line 1: this is not JSON)", args(model, notJson,
                "text"));
        cases.put("column 'text' (input.text_column) not found; the input has columns [id, body] in its first 20 rows",
                args(model, jsonNoText, "text"));
        cases.put("an empty folder (no data file)", args(model, emptyParquetDir, "text"));
        cases.put("model directory not found", args(tmp.resolve("no-model"), good, "sentence"));
        List<String> all = new ArrayList<>();
        cases.forEach((message, a) -> {
            all.add("--case");
            all.add(message);
            all.addAll(a);
        });
        Fixtures.Forked run = Fixtures.fork(List.of("-Xmx512m"), CasesMain.class, all, 5);
        List<JsonObject> results = run.output().lines().filter(l -> l.startsWith("CASE "))
                .map(l -> JsonParser.parseString(l.substring(5)).getAsJsonObject()).toList();
        assertEquals(cases.size(), results.size(), run.output());
        for (JsonObject r : results) {
            String expected = r.get("case").getAsString();
            String err = r.get("err").getAsString();
            assertEquals(2, r.get("status").getAsInt(), expected + ": " + err);
            assertTrue(err.contains(expected), "expected '" + expected + "' in: " + err);
            assertFalse(err.contains("usage:"), "no usage block for bad input: " + err);
            assertFalse(r.get("spark").getAsBoolean(), "no SparkContext for: " + expected);
            System.out.printf("input check: %-40.40s %4d ms%n", expected, r.get("ms").getAsLong());
        }
    }

    /** Good inputs longer than the rows checked: the check stops early and says which format it read. */
    @Test
    void goodInputsPassInEveryFormat() throws Exception {
        org.apache.hadoop.conf.Configuration hadoop = new org.apache.hadoop.conf.Configuration();
        assertEquals("csv", InputCheck.check(JobConfig.load(null, Map.of("input.path", "src/demo/sst2-dev-500.csv",
                "input.text_column", "sentence", "input.label_column", "label")), hadoop));
        Path jsonl = tmp.resolve("long.jsonl");
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 3 * InputCheck.FIRST_ROWS; i++) {
            lines.add("{\"id\": \"r" + i + "\", \"text\": \"a fine film\", \"source\": \"web\"}");
        }
        Files.write(jsonl, lines);
        assertEquals("jsonl", InputCheck.check(JobConfig.load(null, Map.of("input.path", jsonl.toString(), "slices",
                "label,column:source")), hadoop));
        assertEquals("squad", InputCheck.check(JobConfig.load(null, Map.of("input.path", Fixtures.shared().resolve(
                "data/squad2-dev-sample/squad2_dev_first5articles.json").toString())), hadoop));
    }

    @Test
    void wrongArgumentsGetTheUsage() {
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        assertEquals(2, JobCli.run(new String[] {"run", "--input", "x.csv", "--frobnicate", "1"},
                new PrintStream(new ByteArrayOutputStream()), new PrintStream(err, true, StandardCharsets.UTF_8)));
        assertTrue(err.toString(StandardCharsets.UTF_8).contains("unknown option --frobnicate")
                && err.toString(StandardCharsets.UTF_8).contains("usage: atlas run"), err.toString());
    }

    @Test
    void aHeaderOnlyCorpusRunsToEmptyTablesWhenAllowed() throws Exception {
        Path model = SyntheticCorpus.tinyModel(tmp.resolve("tiny-model-2"), 1);
        Path headerOnly = tmp.resolve("header-only-2.csv");
        Files.writeString(headerOnly, "id,sentence,label\n");
        Path out = tmp.resolve("out-" + headerOnly.getFileName()); // as args() names it
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = JobCli.run(with(with(args(model, headerOnly, "sentence"), "input.allow_empty=true"),
                "spark.master=local[1]").toArray(String[]::new), new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        Row m = JobEndToEndTest.table(out, Tables.MANIFEST).get(0);
        assertEquals(0L, m.<Long>getAs("input_rows"));
        assertEquals(0L, m.<Long>getAs("samples") + m.<Long>getAs("errors"));
    }

    private static List<String> args(Path model, Path input, String textColumn) {
        return new ArrayList<>(List.of("run", "--model", model.toString(), "--input", input.toString(), "--output",
                tmp.resolve("out-" + input.getFileName()).toString(), "--set", "input.text_column=" + textColumn));
    }

    private static List<String> with(List<String> args, String set) {
        args.addAll(List.of("--set", set));
        return args;
    }
}
