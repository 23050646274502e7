package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import com.google.gson.JsonObject;
import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Moments;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.schema.Keys;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Slices on the real model and the demo corpus (as JSONL with a metadata field, {@code source}): every aggregate
 * table carries {@code slice} and {@code slice_value}; each slice's head_stats equal the statistics of that slice's
 * samples recomputed from the engine run directly (values assigned by this test's own rules); the {@code all} slice
 * equals a run without slices; bucket edges and the {@code other} overflow are honoured.
 */
class SlicesJobTest {

    private static final int ROWS = 100;
    private static final String MODEL = Path.of("src/demo/model/minilm-sst2").toAbsolutePath().toString();
    /** Aggregate tables whose all slice must equal the unsliced run's rows. */
    private static final List<String> AGGREGATES = List.of(Tables.HEAD_STATS, Tables.HEAD_RELATIONS,
            Tables.LAYER_CORRELATIONS, Tables.HEAD_SIMILARITY, Tables.TOKEN_IMPORTANCE);

    @TempDir
    static Path tmp;

    @AfterAll
    static void stopReader() {
        JobEndToEndTest.stopReader();
    }

    /** source by row: web 40%, news 30%, forum 20%, blog 10% (with max_values 4, blog is "other"). */
    private static String source(int i) {
        int r = i % 10;
        return r < 4 ? "web" : r < 7 ? "news" : r < 9 ? "forum" : "blog";
    }

    private static List<String> args(Path input, Path output, String... extra) {
        List<String> a = new ArrayList<>(List.of("run", "--model", MODEL, "--input", input.toString(), "--output",
                output.toString(), "--set", "input.text_column=sentence", "--set", "input.label_column=label",
                "--set", "level=gradient", "--set", "batch.samples=1", "--set", "engine.threads=1", "--set",
                "partitions=3", "--set", "embeddings.layers="));
        a.addAll(List.of(extra));
        return a;
    }

    @Test
    void eachSliceEqualsTheStatisticsOfItsSamples() throws Exception {
        List<String> csv = Files.readAllLines(Path.of("src/demo/sst2-dev-500.csv"), StandardCharsets.UTF_8);
        List<String[]> rows = new ArrayList<>();
        List<String> jsonl = new ArrayList<>();
        for (int i = 0; i < ROWS; i++) {
            String line = csv.get(i + 1);
            int first = line.indexOf(',');
            int last = line.lastIndexOf(',');
            String text = line.substring(first + 1, last);
            if (text.startsWith("\"")) {
                text = text.substring(1, text.length() - 1).replace("\"\"", "\"");
            }
            String[] r = {line.substring(0, first), text, line.substring(last + 1), source(i)};
            rows.add(r);
            JsonObject o = new JsonObject();
            o.addProperty("id", r[0]);
            o.addProperty("sentence", r[1]);
            o.addProperty("label", r[2]);
            o.addProperty("source", r[3]);
            jsonl.add(o.toString());
        }
        Path input = tmp.resolve("demo.jsonl");
        Files.write(input, jsonl, StandardCharsets.UTF_8);

        Path plain = tmp.resolve("plain");
        JobEndToEndTest.Run a = JobEndToEndTest.run(args(input, plain).toArray(String[]::new));
        assertEquals(0, a.status(), a.err());
        Path sliced = tmp.resolve("sliced");
        JobEndToEndTest.Run b = JobEndToEndTest.run(args(input, sliced, "--set",
                "slices=label,predicted,correct,length,confidence,column:source", "--set",
                "slices.length_edges=0-12-24", "--set", "slices.confidence_edges=0.5-0.9-1.0", "--set",
                "slices.max_values=4").toArray(String[]::new));
        assertEquals(0, b.status(), b.err());

        // the all slice is the unsliced run's tables, row for row
        for (String table : AGGREGATES) {
            List<Row> whole = JobEndToEndTest.table(plain, table);
            List<Row> all = JobEndToEndTest.table(sliced, table).stream()
                    .filter(r -> r.getAs(Keys.Slice.COLUMN).equals("all")).toList();
            assertEquals(whole, all, table + ": the all slice");
            assertTrue(whole.stream().allMatch(r -> r.getAs(Keys.Slice.VALUE_COLUMN).equals("all")), table);
        }

        // each sample's slices by this test's rules, its statistics from the engine run directly
        Map<Keys.Slice, CorpusStatistics> expected = new TreeMap<>();
        Map<Keys.Slice, List<Double>> sepAttention = new TreeMap<>(); // layer 2, head 3: per-sample values

        try (Predictor p = Predictor.open(Path.of(MODEL), null, Device.cpu());
                Explainer e = new Explainer(p, JobConfig.load(null, Map.of("level", "gradient"))
                        .attributionOptions())) {
            for (String[] r : rows) {
                SampleAttribution s = e.attribute(List.of(e.sample(new TextInput(r[0], r[1], null), null))).get(0);
                String predicted = s.prediction().label();
                int n = s.sample().length();
                float confidence = s.prediction().probabilities()[s.prediction().labelIndex()];
                List<Keys.Slice> slices = List.of(new Keys.Slice("all", "all"), new Keys.Slice("label", r[2]),
                        new Keys.Slice("predicted", predicted),
                        new Keys.Slice("correct", String.valueOf(r[2].equals(predicted))),
                        new Keys.Slice("length", n < 12 ? "0-12" : n < 24 ? "12-24" : "24+"),
                        new Keys.Slice("confidence", confidence < 0.9 ? "0.5-0.9" : "0.9-1.0"),
                        new Keys.Slice("column:source", r[3].equals("blog") ? "other" : r[3]));
                double sep = io.attributionatlas.analysis.HeadMetrics.of(s).get(
                        io.attributionatlas.schema.Metrics.ATTN_SEP)[2][3];
                for (Keys.Slice slice : slices) {
                    expected.computeIfAbsent(slice, k -> new CorpusStatistics(6, 12)).add(s);
                    sepAttention.computeIfAbsent(slice, k -> new ArrayList<>()).add(sep);
                }
            }
        }
        List<Row> headStats = JobEndToEndTest.table(sliced, Tables.HEAD_STATS);
        Set<Keys.Slice> written = headStats.stream().map(r -> new Keys.Slice(r.getAs(Keys.Slice.COLUMN),
                r.getAs(Keys.Slice.VALUE_COLUMN))).collect(Collectors.toCollection(java.util.TreeSet::new));
        assertEquals(expected.keySet(), written, "the slices and their values");
        assertTrue(written.contains(new Keys.Slice("column:source", "other")), "blog, the 4th value, is other");
        assertTrue(written.stream().filter(s -> s.slice().equals("length")).allMatch(s -> Set.of("0-12", "12-24",
                "24+").contains(s.value())), written.toString());
        for (Row r : headStats) {
            Keys.Slice slice = new Keys.Slice(r.getAs(Keys.Slice.COLUMN), r.getAs(Keys.Slice.VALUE_COLUMN));
            Moments[] m = expected.get(slice).headStats().get(r.<String>getAs("metric"));
            assertNotNull(m, r.toString());
            Moments want = m[r.<Integer>getAs("layer") * 12 + r.<Integer>getAs("head")];
            assertEquals(want.count(), r.<Long>getAs("count"), r.toString());
            for (String f : List.of("mean", "std", "min", "max")) {
                double w = switch (f) {
                    case "mean" -> want.mean();
                    case "std" -> want.std();
                    case "min" -> want.min();
                    default -> want.max();
                };
                double got = r.<Double>getAs(f);
                assertEquals(w, got, 1e-9 * Math.max(Math.abs(w), 1e-3), f + " of " + r);
            }
        }
        assertContrasts(sliced, expected, sepAttention);
        // every definition partitions the corpus (the samples with a value of it)
        Map<String, Long> perDefinition = headStats.stream().filter(r -> r.getAs("metric").equals(io.attributionatlas.schema.Metrics.ATTN_SEP)
                && r.<Integer>getAs("layer") == 0 && r.<Integer>getAs("head") == 0).collect(Collectors.groupingBy(
                        r -> r.<String>getAs(Keys.Slice.COLUMN), Collectors.summingLong(r -> r.<Long>getAs("count"))));
        perDefinition.forEach((d, n) -> assertEquals(ROWS, n, d));
    }

    /**
     * slice_contrasts: a head's Welch interval and Cohen's d equal a direct computation from the per-sample values of
     * the two slices; token rows are the words whose means differ most, with the interval from their scores' moments.
     */
    private static void assertContrasts(Path sliced, Map<Keys.Slice, CorpusStatistics> expected,
            Map<Keys.Slice, List<Double>> sepAttention) {
        List<Row> contrasts = JobEndToEndTest.table(sliced, Tables.SLICE_CONTRASTS);
        int checked = 0;
        for (String[] pair : List.of(new String[] {"correct", "true", "false"}, new String[] {"label", "NEGATIVE",
                "POSITIVE"}, new String[] {"length", "0-12", "12-24"})) {
            List<Double> a = sepAttention.get(new Keys.Slice(pair[0], pair[1]));
            List<Double> b = sepAttention.get(new Keys.Slice(pair[0], pair[2]));
            if (a == null || b == null || a.size() < 2 || b.size() < 2) {
                continue;
            }
            Row row = contrasts.stream().filter(r -> r.getAs("kind").equals("head") && r.getAs("slice").equals(pair[0])
                    && r.getAs("value_a").equals(pair[1]) && r.getAs("value_b").equals(pair[2])
                    && r.getAs("metric").equals(io.attributionatlas.schema.Metrics.ATTN_SEP)
                    && r.<Integer>getAs("layer") == 2 && r.<Integer>getAs("head") == 3).findFirst().orElseThrow();
            double[] w = welch(a, b);
            assertEquals((long) a.size(), row.<Long>getAs("count_a"));
            assertEquals(w[0], r(row, "difference"), 1e-9 * Math.abs(w[0]) + 1e-15, "difference " + row);
            assertEquals(w[1], r(row, "ci_low"), 1e-9 * Math.abs(w[1]) + 1e-15, "low " + row);
            assertEquals(w[2], r(row, "ci_high"), 1e-9 * Math.abs(w[2]) + 1e-15, "high " + row);
            assertEquals(w[3], r(row, "cohens_d"), 1e-9 * Math.abs(w[3]) + 1e-15, "d " + row);
            checked++;
        }
        assertTrue(checked >= 2, "head contrasts checked: " + checked);
        // token rows of correct (true vs false): the top words by |difference| among words scored twice in both
        Map<Keys.Token, double[]> yes = expected.get(new Keys.Slice("correct", "true")).tokenImportance();
        Map<Keys.Token, double[]> no = expected.get(new Keys.Slice("correct", "false")).tokenImportance();
        List<Row> tokens = contrasts.stream().filter(r -> r.getAs("kind").equals("token")
                && r.getAs("slice").equals("correct")).toList();
        assertTrue(!tokens.isEmpty(), "token contrasts of correct");
        for (Row row : tokens) {
            Keys.Token key = new Keys.Token(row.getAs("metric"), row.getAs("unit"), row.getAs("token"),
                    row.getAs("target"));
            double[] x = yes.get(key);
            double[] y = no.get(key);
            io.attributionatlas.analysis.Contrast c = io.attributionatlas.analysis.Contrast.welch((long) x[0],
                    x[1] / x[0], sd(x), (long) y[0], y[1] / y[0], sd(y));
            assertEquals(c.difference(), r(row, "difference"), 1e-9 * Math.abs(c.difference()) + 1e-12, row.toString());
            assertEquals(c.low(), r(row, "ci_low"), 1e-9 * Math.abs(c.low()) + 1e-12, row.toString());
        }
        Map<String, List<Row>> byTarget = tokens.stream().collect(Collectors.groupingBy(r -> r.getAs("target")
                + "/" + r.getAs("unit")));
        byTarget.forEach((k, rs) -> {
            double smallest = rs.stream().mapToDouble(r -> Math.abs(r(r, "difference"))).min().orElseThrow();
            long larger = yes.entrySet().stream().filter(e -> (e.getKey().target() + "/" + e.getKey().unit())
                    .equals(k) && e.getValue()[0] >= 2 && no.containsKey(e.getKey()) && no.get(e.getKey())[0] >= 2
                    && Math.abs(e.getValue()[1] / e.getValue()[0] - no.get(e.getKey())[1] / no.get(e.getKey())[0])
                            > smallest * (1 + 1e-9)).count();
            assertTrue(larger < rs.size() && rs.size() <= SliceContrasts.TOP_TOKENS, k + ": the top tokens by |difference|");
        });
    }

    private static double r(Row row, String field) {
        return row.<Double>getAs(field);
    }

    /** Sample standard deviation from {count, sum, sum of |x|, sum of squares}. */
    private static double sd(double[] sums) {
        return Math.sqrt((sums[3] - sums[1] * sums[1] / sums[0]) / (sums[0] - 1));
    }

    /** {difference, low, high, Cohen's d} from the values, two-pass, Welch–Satterthwaite. */
    private static double[] welch(List<Double> a, List<Double> b) {
        double ma = a.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double mb = b.stream().mapToDouble(Double::doubleValue).average().orElseThrow();
        double va = a.stream().mapToDouble(v -> (v - ma) * (v - ma)).sum() / (a.size() - 1);
        double vb = b.stream().mapToDouble(v -> (v - mb) * (v - mb)).sum() / (b.size() - 1);
        double se2 = va / a.size() + vb / b.size();
        double df = se2 * se2 / (Math.pow(va / a.size(), 2) / (a.size() - 1) + Math.pow(vb / b.size(), 2)
                / (b.size() - 1));
        double t = new org.apache.commons.math3.distribution.TDistribution(df).inverseCumulativeProbability(0.975);
        double pooled = Math.sqrt(((a.size() - 1) * va + (b.size() - 1) * vb) / (a.size() + b.size() - 2));
        return new double[] {ma - mb, ma - mb - t * Math.sqrt(se2), ma - mb + t * Math.sqrt(se2), (ma - mb) / pooled};
    }
}
