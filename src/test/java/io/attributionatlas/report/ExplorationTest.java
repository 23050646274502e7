package io.attributionatlas.report;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import io.attributionatlas.job.JobCli;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The Zeppelin notebooks and the HTML report over one real run of the job: every %spark.sql paragraph
 * runs against the run's tables with its forms substituted and returns the columns its chart uses; the
 * report opens in headless Chromium without console errors, is not blank, and shows hostile text as text.
 */
class ExplorationTest {

    static final Path NOTEBOOKS = Path.of("notebooks-zeppelin");
    static final String HOSTILE = "<script>alert('x')</script> a \"gorgeous\" & witty film";

    @TempDir
    static Path tmp;
    static Path run;
    /** atlas compare of the run with itself, for the comparison notebook. */
    static Path comparison;
    static SparkSession spark;

    @BeforeAll
    static void runJob() throws Exception {
        Path input = tmp.resolve("corpus.jsonl");
        List<String> lines = new ArrayList<>();
        String[][] rows = {{"sst2-dev-0001", "One long string of cliches.", "NEGATIVE"},
            {"sst2-dev-0002", HOSTILE, "POSITIVE"}, {"sst2-dev-0003", "A gorgeous, witty, seductive movie.", "POSITIVE"},
            {"sst2-dev-0004", "The acting is bad and the plot is worse.", "NEGATIVE"},
            {"sst2-dev-0005", "It's a charming and often affecting journey.", "POSITIVE"},
            {"sst2-dev-0006", "   ", "POSITIVE"}};
        for (String[] r : rows) {
            JsonObject o = new JsonObject();
            o.addProperty("id", r[0]);
            o.addProperty("text", r[1]);
            o.addProperty("label", r[2]);
            lines.add(o.toString());
        }
        Files.write(input, lines);
        run = tmp.resolve("run");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = JobCli.run(new String[] {"run", "--model", Fixtures.realModel().toString(), "--input",
            input.toString(), "--output", run.toString(), "--set", "input.label_column=label", "--set", "n_steps=4",
            "--set", "dump.count=3", "--set", "statistics.head_similarity_sample_rate=1",
            "--set", "methods=integrated_gradients,occlusion,decompx", "--set", "methods.decompx_bias=separate",
            "--set", "slices=label,correct"}, new PrintStream(new ByteArrayOutputStream()), new PrintStream(err));
        assertEquals(0, status, err.toString(StandardCharsets.UTF_8));
        spark = SparkSession.builder().master("local[1]").appName("notebooks").config("spark.ui.enabled", "false")
                .getOrCreate();
        comparison = tmp.resolve("compare");
        assertEquals(0, io.attributionatlas.cli.AtlasCli.run(new String[] {"compare", "--run", run.toString(), "--run",
            run.toString(), "--out", comparison.toString()}, new PrintStream(new ByteArrayOutputStream()),
                new PrintStream(err)), err.toString(StandardCharsets.UTF_8));
    }

    @AfterAll
    static void stop() {
        if (spark != null) {
            spark.stop();
        }
    }

    static List<Path> notebooks() throws Exception {
        try (Stream<Path> files = Files.list(NOTEBOOKS)) {
            return files.filter(f -> f.toString().endsWith(".zpln")).sorted().toList();
        }
    }

    @Test
    void notebooksAreValidZeppelinJson() throws Exception {
        List<Path> notebooks = notebooks();
        assertEquals(7, notebooks.size(), "overview, heads, layers, tokens, sample explorer, slices and contrasts, "
                + "model comparison");
        Set<String> ids = new HashSet<>();
        for (Path nb : notebooks) {
            JsonObject note = JsonParser.parseString(Files.readString(nb)).getAsJsonObject();
            assertTrue(note.get("name").getAsString().startsWith("Attribution Atlas/"), nb.toString());
            assertTrue(ids.add(note.get("id").getAsString()), "note ids are unique");
            assertEquals("spark", note.get("defaultInterpreterGroup").getAsString());
            List<JsonObject> paragraphs = new ArrayList<>();
            note.getAsJsonArray("paragraphs").forEach(p -> paragraphs.add(p.getAsJsonObject()));
            assertTrue(paragraphs.get(0).get("text").getAsString().startsWith("%md\n# "), nb + " opens with %md");
            assertTrue(paragraphs.get(0).get("text").getAsString().contains("**run**")
                    || paragraphs.get(0).get("text").getAsString().contains("**compare**"), nb + " says how to point it");
            for (JsonObject p : paragraphs) {
                String id = p.get("id").getAsString();
                assertTrue(id.startsWith("paragraph_") && ids.add(id), "unique paragraph id " + id);
                String text = p.get("text").getAsString();
                assertTrue(text.startsWith("%md\n") || text.startsWith("%spark.sql\n") || text.startsWith("%spark\n"),
                        nb + ": interpreter prefix of " + id);
                if (text.startsWith("%spark.sql\n")) {
                    JsonObject graph = graph(p);
                    assertTrue(Set.of("table", "multiBarChart", "pieChart", "lineChart", "scatterChart",
                            "stackedAreaChart").contains(graph.get("mode").getAsString()), nb + " " + id + " chart mode");
                    assertTrue(graph.has("keys") && graph.has("groups") && graph.has("values"), id);
                }
            }
        }
    }

    private static JsonObject graph(JsonObject paragraph) {
        return paragraph.getAsJsonObject("config").getAsJsonObject("results").getAsJsonObject("0")
                .getAsJsonObject("graph");
    }

    /** Zeppelin forms: $${name=default} (note) and ${name=default,options} (paragraph). */
    static String substitute(String sql, Map<String, String> values) {
        Matcher m = Pattern.compile("\\$?\\$\\{(\\w+)=([^}]*)}").matcher(sql);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String value = values.getOrDefault(m.group(1), m.group(2).split(",")[0]);
            m.appendReplacement(out, Matcher.quoteReplacement(value));
        }
        m.appendTail(out);
        return out.toString();
    }

    @Test
    void everySqlParagraphReturnsTheColumnsItsChartUses() throws Exception {
        int executed = 0;
        for (Path nb : notebooks()) {
            JsonObject note = JsonParser.parseString(Files.readString(nb)).getAsJsonObject();
            for (JsonElement e : note.getAsJsonArray("paragraphs")) {
                JsonObject p = e.getAsJsonObject();
                String text = p.get("text").getAsString();
                if (!text.startsWith("%spark.sql\n")) {
                    continue;
                }
                String sql = substitute(text.substring("%spark.sql\n".length()), Map.of("run", run.toString(),
                        "compare", comparison.toString()));
                Dataset<Row> result = null;
                for (String statement : sql.split(";\\s*\\n")) {
                    String s = statement.lines().filter(l -> !l.trim().startsWith("--")).reduce("", (x, y) -> x + "\n" + y);
                    if (!s.isBlank()) {
                        result = spark.sql(s);
                    }
                }
                String where = nb.getFileName() + " / " + p.get("title").getAsString();
                List<Row> rows = result.collectAsList();
                assertFalse(rows.isEmpty(), where + " returns rows");
                List<String> columns = Arrays.asList(result.columns());
                JsonObject graph = graph(p);
                for (String part : List.of("keys", "groups", "values")) {
                    for (JsonElement c : graph.getAsJsonArray(part)) {
                        assertTrue(columns.contains(c.getAsJsonObject().get("name").getAsString()),
                                where + ": chart column " + c + " in " + columns);
                    }
                }
                executed++;
            }
        }
        assertTrue(executed >= 20, "all SQL paragraphs ran: " + executed);
    }

    @Test
    void reportOpensInChromiumWithoutErrorsAndShowsTextAsText() throws Exception {
        Path html = tmp.resolve("report.html");
        String page = RunReport.render(spark, run.toString());
        Files.writeString(html, page);
        assertFalse(page.contains("<script>alert"), "corpus text is escaped in the page");
        assertFalse(page.matches("(?s).*(src|href)=\"https?://.*"), "no external resources");
        String chromium = chromium();
        Path png = tmp.resolve("report.png");
        Process shot = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--user-data-dir=" + tmp.resolve("chromium-profile"), "--enable-logging=stderr", "--v=0",
                "--window-size=1300,3000", "--screenshot=" + png, html.toUri().toString())
                .redirectErrorStream(true).start();
        String log = new String(shot.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(shot.waitFor(120, TimeUnit.SECONDS), "chromium finished");
        List<String> consoleErrors = log.lines().filter(l -> l.contains("CONSOLE") || l.contains("Uncaught")).toList();
        assertTrue(consoleErrors.isEmpty(), "console errors: " + consoleErrors);
        BufferedImage image = ImageIO.read(png.toFile());
        Set<Integer> colours = new HashSet<>();
        long nonWhite = 0;
        for (int y = 0; y < image.getHeight(); y += 3) {
            for (int x = 0; x < image.getWidth(); x += 3) {
                int rgb = image.getRGB(x, y) & 0xffffff;
                colours.add(rgb);
                nonWhite += rgb != 0xffffff ? 1 : 0;
            }
        }
        assertTrue(colours.size() > 50 && nonWhite > image.getWidth() * image.getHeight() / 9 / 50,
                "screenshot is not blank: " + colours.size() + " colours, " + nonWhite + " non-white samples");
        Process dom = new ProcessBuilder(chromium, "--headless", "--no-sandbox", "--disable-gpu",
                "--disable-background-networking", "--user-data-dir=" + tmp.resolve("chromium-profile-2"),
                "--dump-dom", html.toUri().toString()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        String rendered = new String(dom.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(dom.waitFor(120, TimeUnit.SECONDS));
        assertTrue(rendered.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "the hostile text is shown as text");
        assertFalse(Pattern.compile("<script>\\s*alert").matcher(rendered).find(), "no injected script element");
        assertTrue(rendered.contains("sst2-dev-0002"), "the explorer lists the dumped samples");
        java.util.regex.Matcher contrasts = Pattern.compile("Heads that differ most.*?<table class=\"data\">(.*?)"
                + "</table>", Pattern.DOTALL).matcher(rendered);
        assertTrue(contrasts.find() && contrasts.group(1).contains("<td>label</td><td>NEGATIVE</td><td>POSITIVE</td>"),
                "the Contrasts view lists head contrasts of the label slice");
        assertTrue(rendered.contains("<td class=\"method\">occlusion</td>")
                && rendered.contains("<td class=\"method\">integrated_gradients</td>"),
                "the explorer shows each method's per-sample scores, a row each");
        assertTrue(Pattern.compile("<td class=\"method\">decompx</td><td>.*?bias part -?[0-9]+\\.[0-9]{4}</td>")
                .matcher(rendered).find(), "DecompX's bias part (decompx_bias=separate) beside its token scores");
        // Model view: a map per layer and head of the real model (6 × 12), drawn by the page's script.
        assertEquals(6 * 12 + 1, rendered.split("<canvas", -1).length - 1,
                "model view: one map per layer and head; and the neuron view's canvas");
        java.util.regex.Matcher neuron = Pattern.compile("<canvas id=\"nv\" width=\"(\\d+)\" height=\"(\\d+)\"")
                .matcher(rendered);
        assertTrue(neuron.find() && Integer.parseInt(neuron.group(1)) > 300 && Integer.parseInt(neuron.group(2)) > 100,
                "the neuron view draws the first sample's vectors");
        java.util.regex.Matcher neighbours = Pattern.compile("<table class=\"data\" id=\"nb\">.*?</table>",
                Pattern.DOTALL).matcher(rendered);
        assertTrue(neighbours.find(), "corpus neighbours table");
        assertTrue(neighbours.group().split("<tr>", -1).length - 1 >= 1 + 3, "header and neighbours: "
                + neighbours.group());
        assertTrue(neighbours.group().contains("sst2-dev-000"), "neighbours name their samples");
        assertTrue(rendered.contains("Kobayashi norms"), "model and head views offer the norms");
        // Charts first: the run summary, then the heads' heatmap, before any table of rows.
        int summary = page.indexOf("<table class=\"summary\">");
        int firstChart = page.indexOf("<svg");
        int samplesTable = page.indexOf("Samples (first 50 in input order)");
        assertTrue(summary > 0 && firstChart > summary && samplesTable > firstChart, "charts before the sample rows");
        assertTrue(page.contains("<details><summary>Run details (manifest)</summary>"), "raw fields collapsed");
        assertTrue(page.contains("class=\"tok-set\"") || page.contains("class=\"grid tok-set\""),
                "top tokens as bar charts per method");
        assertTrue(page.contains("Method agreement: Spearman correlation"), "agreement heatmap");
        assertSliceSelectors(page, rendered);
    }

    /**
     * Heads, Layers, Tokens and Methods each have a slice selector over the run's slices (label, correct), and each
     * slice's block shows that slice's statistics: the top head of the importance ranking per block is the top row of
     * head_stats for that slice. Only the whole corpus's block is visible when the page opens.
     */
    private static void assertSliceSelectors(String page, String rendered) {
        Dataset<Row> headStats = spark.read().parquet(run.resolve("head_stats").toString());
        List<Row> slices = headStats.select("slice", "slice_value").distinct().collectAsList();
        assertTrue(slices.size() >= 4, "all, two labels and at least one value of correct: " + slices);
        String[] sections = {"heads", "layers", "tokens", "methods"};
        for (int i = 0; i < sections.length; i++) {
            String section = page.substring(page.indexOf("<h2 id=\"" + sections[i] + "\">"), page.indexOf("<h2 id=",
                    page.indexOf("<h2 id=\"" + sections[i] + "\">") + 5));
            Matcher options = Pattern.compile("<select class=\"slice-pick\">(.*?)</select>", Pattern.DOTALL)
                    .matcher(section);
            assertTrue(options.find(), sections[i] + " has a slice selector");
            assertTrue(options.group(1).startsWith("<option value=\"0\">all samples</option>")
                    && options.group(1).contains(">label = NEGATIVE</option>")
                    && options.group(1).contains(">label = POSITIVE</option>")
                    && options.group(1).contains(">correct = "), sections[i] + ": " + options.group(1));
            assertEquals(slices.size(), section.split("<div class=\"slice-block\"", -1).length - 1,
                    sections[i] + ": a block per slice");
        }
        String heads = page.substring(page.indexOf("<h2 id=\"heads\">"), page.indexOf("<h2 id=\"layers\">"));
        Matcher options = Pattern.compile("<option value=\"(\\d+)\">([^<]*)</option>").matcher(heads);
        int checked = 0;
        while (options.find()) {
            String label = options.group(2);
            String[] slice = label.equals("all samples") ? new String[] {"all", "all"} : label.split(" = ", 2);
            Row top = headStats.filter("metric = 'head_importance' AND slice = '" + slice[0] + "' AND slice_value = '"
                    + slice[1] + "'").orderBy(org.apache.spark.sql.functions.desc("mean")).first();
            String block = heads.split("<div class=\"slice-block\" data-slice=\"" + options.group(1) + "\">", 2)[1];
            Matcher first = Pattern.compile("Heads ranked by importance.*?<tr>.*?</tr><tr><td>(\\d+)</td><td>(\\d+)"
                    + "</td>", Pattern.DOTALL).matcher(block);
            assertTrue(first.find(), label);
            assertEquals(top.<Integer>getAs("layer") + "/" + top.<Integer>getAs("head"), first.group(1) + "/"
                    + first.group(2), "the top head of slice " + label);
            checked++;
        }
        assertEquals(slices.size(), checked);
        assertEquals(4 * (slices.size() - 1), rendered.split("<div class=\"slice-block\" data-slice=\"[1-9]\\d*\" "
                + "hidden=\"\"", -1).length - 1, "only the whole corpus's blocks are shown when the page opens");
    }

    /** Debian's chromium, which .ci/run installs when it is missing. */
    static String chromium() {
        for (String candidate : List.of("/usr/bin/chromium", "/usr/bin/chromium-browser")) {
            if (new File(candidate).canExecute()) {
                return candidate;
            }
        }
        throw new IllegalStateException("Debian's chromium is needed for the report test: apt-get install -y chromium"
                + " (.ci/run installs it when missing)");
    }
}
