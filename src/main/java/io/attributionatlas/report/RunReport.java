package io.attributionatlas.report;

import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.attribution.Faithfulness;
import io.attributionatlas.schema.Json;
import io.attributionatlas.schema.Keys;
import io.attributionatlas.schema.Metrics;
import io.attributionatlas.schema.Table;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * A job run's tables as one self-contained HTML page (no network; CSS and JavaScript inline), charts first: a
 * short run summary (the manifest's raw fields collapsed), heads (layer × head heatmap of a selectable head
 * statistic, importance ranking, head similarity), layers (layer × layer conductance correlation,
 * attention-vs-attribution agreement per head), tokens (bar charts of the top tokens per target, selectable by
 * method), methods (agreement heatmap, faithfulness curves, tables); then the samples (errors by reason,
 * prediction vs label, convergence deltas, first rows), a sample explorer for the dumped samples (coloured tokens,
 * one row per method, layer × token conductance, a BertViz-style head view), and the run's configuration. All corpus text is HTML-escaped; data for the
 * explorer is embedded as JSON with {@code <}, {@code >} and {@code &} escaped and rendered with
 * textContent.
 */
public final class RunReport {

    private static final Gson SCRIPT_SAFE = Json.SCRIPT_SAFE;

    private RunReport() {
    }

    public static String render(SparkSession spark, String run) {
        SliceViews slices = new SliceViews(spark);
        for (Table table : Table.values()) {
            if ((table == Table.TOKEN_EMBEDDINGS || table == Table.SLICE_CONTRASTS) && !hasTable(spark, run, table)) {
                continue; // a run of an earlier version: no corpus neighbours, no slice contrasts
            }
            Dataset<Row> rows = spark.read().parquet(run + "/" + table.tableName());
            if (java.util.Arrays.asList(rows.columns()).contains(Keys.Slice.VALUE_COLUMN)) {
                slices.add(table.tableName(), rows);
            } else {
                rows.createOrReplaceTempView(table.tableName());
            }
        }
        slices.show(io.attributionatlas.analysis.Slices.ALL_SLICE); // the whole corpus's aggregates, unless a view picks
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Attribution Atlas run report"
                + "</title><style>").append(Html.STYLE).append("""
                nav a{margin-right:14px}[hidden]{display:none!important}table.summary{border-collapse:collapse;margin:8px 0 4px 0}
                table.summary th,table.summary td{border:1px solid #ddd;padding:4px 14px;text-align:left}
                table.summary th{font-weight:normal;color:#555;font-size:12px}table.summary td{font-size:17px}
                details{margin:6px 0 12px 0}details code{font-size:12px;word-break:break-all}
                .model-view canvas{border:1px solid #ddd;margin:1px;cursor:pointer;width:48px;height:48px;
                image-rendering:pixelated}.mv-row{display:flex;align-items:center}.mv-label{width:28px;font-size:12px;
                color:#555}table.tokens td{padding:3px 6px;vertical-align:top}table.tokens td.method{white-space:nowrap;color:#555;
                font-size:12px}table.data{border-collapse:collapse;font-size:13px;margin:6px 0 16px 0}
                table.data td,table.data th{border:1px solid #ddd;padding:3px 8px;text-align:left}
                table.data th{background:#f4f4f4}.warn{color:#b00020;font-weight:600}
                """).append("</style></head><body><h1>Attribution Atlas — run report</h1>");
        b.append("<nav><a href=\"#overview\">Run</a><a href=\"#heads\">Heads</a><a href=\"#layers\">Layers</a>"
                + "<a href=\"#tokens\">Tokens</a><a href=\"#methods\">Methods</a><a href=\"#contrasts\">Contrasts</a>"
                + "<a href=\"#samples\">Samples</a>"
                + "<a href=\"#explorer\">Sample explorer</a><a href=\"#neuron-view\">Neuron view</a>"
                + "<a href=\"#neighbours\">Corpus neighbours</a><a href=\"#config\">Configuration</a></nav>");
        Row manifest = spark.sql("SELECT * FROM manifest").first();
        Row shape = spark.sql("SELECT max(layer) + 1 AS layers, max(head) + 1 AS heads FROM head_stats").first();
        int layers = shape.isNullAt(shape.fieldIndex("layers")) ? 0 : shape.<Integer>getAs("layers");
        int heads = shape.isNullAt(shape.fieldIndex("heads")) ? 0 : shape.<Integer>getAs("heads");
        overview(b, manifest);
        headsSection(spark, b, slices, layers, heads);
        b.append("<h2 id=\"layers\">Layers</h2>");
        slices.render(b, () -> layersSection(spark, b, layers, heads));
        tokensSection(spark, b, slices);
        b.append("<h2 id=\"methods\">Methods</h2>");
        slices.render(b, () -> methodsSection(spark, b));
        contrastsSection(spark, b);
        samplesSection(spark, b);
        explorer(spark, run, b);
        b.append("<h2 id=\"config\">Configuration</h2><table class=\"data\"><tr><th>key</th><th>value</th></tr>");
        Map<String, String> config = new TreeMap<>();
        SCRIPT_SAFE.fromJson(manifest.getString(manifest.fieldIndex("config_json")), JsonObject.class).entrySet()
                .forEach(e -> config.put(e.getKey(), e.getValue().getAsString()));
        config.forEach((k, v) -> b.append("<tr><td>").append(Html.escape(k)).append("</td><td>").append(Html.escape(v))
                .append("</td></tr>"));
        b.append("</table><p class=\"note\">Indices are 0-based (layer, head, token). Generated by Attribution Atlas "
                + "from ").append(Html.escape(run)).append(".</p>").append(SliceViews.SCRIPT).append("</body></html>\n");
        return b.toString();
    }

    /** A short summary of the run as a small table; the manifest's raw fields in a collapsed block. */
    private static void overview(StringBuilder b, Row m) {
        String executorsJson = m.<String>getAs("executors_json");
        JsonArray executors = executorsJson == null ? new JsonArray() : SCRIPT_SAFE.fromJson(executorsJson,
                JsonArray.class);
        java.util.Set<String> devices = new java.util.TreeSet<>();
        executors.forEach(e -> devices.add(e.getAsJsonObject().get("device").getAsString()));
        b.append("<h2 id=\"overview\">Run</h2><table class=\"summary\"><tr>");
        String[][] cells = {
            {"rows", String.valueOf(m.<Long>getAs("input_rows"))},
            {"samples", String.valueOf(m.<Long>getAs("samples"))},
            {"errors", String.valueOf(m.<Long>getAs("errors"))},
            {"time", String.format(Locale.ROOT, "%.1f s", m.<Double>getAs("seconds"))},
            {"samples/s", String.format(Locale.ROOT, "%.2f", m.<Double>getAs("samples_per_second"))},
            {"device", String.join(", ", devices)},
            {"executors", executors.size() + (m.isNullAt(m.fieldIndex("task_slots")) ? ""
                    : " (" + m.<Integer>getAs("task_slots") + " task slots)")}};
        for (String[] c : cells) {
            b.append("<th>").append(c[0]).append("</th>");
        }
        b.append("</tr><tr>");
        for (String[] c : cells) {
            b.append("<td>").append(Html.escape(c[1])).append("</td>");
        }
        b.append("</tr></table><p class=\"note\">model ").append(Html.escape(m.<String>getAs("model_path")))
                .append("</p><details><summary>Run details (manifest)</summary><table class=\"kv\">");
        for (String field : m.schema().fieldNames()) {
            if (field.equals("config_json")) {
                continue; // the Configuration section below
            }
            Object v = m.getAs(field);
            b.append("<tr><td>").append(field).append("</td><td><code>").append(Html.escape(v instanceof Double d
                    ? String.format(Locale.ROOT, "%.3f", d) : String.valueOf(v))).append("</code></td></tr>");
        }
        b.append("</table></details>");
    }

    /** Errors, predictions against labels, the integrated gradients' convergence and the first rows: behind the charts. */
    private static void samplesSection(SparkSession spark, StringBuilder b) {
        b.append("<h2 id=\"samples\">Samples</h2>");
        table(b, "Errors by reason", spark.sql("SELECT regexp_replace(reason, \"( \\\\(| ').*\", ' …') AS reason, count(*) AS rows "
                + "FROM errors GROUP BY 1 ORDER BY rows DESC"));
        table(b, "Prediction vs label", spark.sql("SELECT coalesce(label, '(none)') AS label, prediction, count(*) AS "
                + "samples FROM samples GROUP BY 1, 2 ORDER BY 1, 2"));
        List<Row> deltas = spark.sql("SELECT abs(t.delta) / greatest(abs(t.f_input - t.f_baseline), 1e-12) AS r "
                + "FROM samples LATERAL VIEW explode(targets) e AS t WHERE t.delta IS NOT NULL").collectAsList();
        if (!deltas.isEmpty()) {
            double[] edges = {0, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, Double.POSITIVE_INFINITY};
            String[] labels = {"<1e-6", "<1e-5", "<1e-4", "<1e-3", "<1e-2", "<0.1", "≥0.1"};
            float[][] counts = new float[1][labels.length];
            int large = 0;
            for (Row r : deltas) {
                double v = r.<Double>getAs("r");
                for (int k = 0; k < labels.length; k++) {
                    if (v < edges[k + 1]) {
                        counts[0][k]++;
                        break;
                    }
                }
                large += v >= 1e-2 ? 1 : 0;
            }
            b.append(Html.heatmap("Integrated-gradients convergence: |delta| / |F(x) − F(x′)| (targets per bin)",
                    new String[] {"targets"}, labels, counts, false));
            b.append(large == 0 ? "<p class=\"note\">All deltas are below 1% of F(x) − F(x′).</p>"
                    : "<p class=\"warn\">" + large + " targets have a delta of 1% or more of F(x) − F(x′): raise n_steps."
                    + "</p>");
        }
        table(b, "Samples (first 50 in input order)", spark.sql("SELECT id, label, prediction, text, text_pair "
                + "FROM samples ORDER BY row_index LIMIT 50"));
    }

    private static void headsSection(SparkSession spark, StringBuilder b, SliceViews slices, int layers, int heads) {
        b.append("<h2 id=\"heads\">Heads</h2>");
        if (layers == 0) {
            b.append("<p class=\"note\">No head statistics in this run.</p>");
            return;
        }
        b.append("<div class=\"controls\"><label>statistic <select id=\"metric\">");
        spark.sql("SELECT DISTINCT metric FROM head_stats ORDER BY metric").collectAsList().forEach(m -> b.append(
                "<option>").append(Html.escape(m.getString(0))).append("</option>"));
        b.append("</select></label></div>");
        slices.render(b, () -> headsOfSlice(spark, b, layers, heads));
        b.append("""
                <script>
                (function () {
                  const select = document.getElementById('metric');
                  function show() {
                    document.querySelectorAll('.metric').forEach(d => {
                      d.style.display = d.dataset.metric === select.value ? 'block' : 'none';
                    });
                  }
                  const preferred = ['attn_sep', 'head_importance'].find(m => [...select.options].some(o => o.value === m));
                  if (preferred) select.value = preferred;
                  select.addEventListener('change', show);
                  show();
                })();
                </script>
                """);
    }

    /** The heads of the slice the views hold: a heatmap per statistic (the section's selector picks), ranking, similarity. */
    private static void headsOfSlice(SparkSession spark, StringBuilder b, int layers, int heads) {
        Map<String, float[][]> grids = new LinkedHashMap<>();
        for (Row r : spark.sql("SELECT metric, layer, head, mean FROM head_stats ORDER BY metric").collectAsList()) {
            float[][] g = grids.computeIfAbsent(r.<String>getAs("metric"), k -> new float[layers][heads]);
            g[r.<Integer>getAs("layer")][r.<Integer>getAs("head")] = floatOrNaN(r, "mean");
        }
        for (Map.Entry<String, float[][]> g : grids.entrySet()) {
            boolean signed = g.getKey().startsWith("cond_") && !g.getKey().startsWith("cond_abs_");
            b.append("<div class=\"metric\" data-metric=\"").append(Html.escape(g.getKey())).append("\">")
                    .append(Html.heatmap(g.getKey() + " (mean over samples; layer × head)",
                            ExplanationPage.layerLabels(layers), ExplanationPage.headLabels(heads), g.getValue(), signed))
                    .append("</div>");
        }
        table(b, "Heads ranked by importance |∂F/∂ξ| (mean over samples)", spark.sql("SELECT layer, head, "
                + "round(mean, 5) AS mean_importance, round(std, 5) AS std, count FROM head_stats WHERE metric = "
                + "'" + Metrics.HEAD_IMPORTANCE + "' ORDER BY mean DESC LIMIT 15"));
        List<Row> similarity = spark.sql("SELECT layer_a, head_a, layer_b, head_b, mean_js_distance FROM "
                + "head_similarity").collectAsList();
        if (!similarity.isEmpty()) {
            int p = layers * heads;
            float[][] js = new float[p][p];
            String[] names = new String[p];
            for (int x = 0; x < p; x++) {
                names[x] = "L" + (x / heads) + "-H" + (x % heads);
            }
            for (Row r : similarity) {
                js[r.<Integer>getAs("layer_a") * heads + r.<Integer>getAs("head_a")][r.<Integer>getAs("layer_b")
                        * heads + r.<Integer>getAs("head_b")] = floatOrNaN(r, "mean_js_distance");
            }
            b.append(Html.heatmap("Head similarity: mean Jensen–Shannon distance of attention maps (Clark et al.)",
                    names, names, js, false));
        }
    }

    private static void layersSection(SparkSession spark, StringBuilder b, int layers, int heads) {
        List<Row> rows = spark.sql("SELECT kind, a, b, pooled_r, sample_mean_r FROM layer_correlations").collectAsList();
        if (rows.isEmpty()) {
            b.append("<p class=\"note\">No conductance in this run (level attention or gradient).</p>");
            return;
        }
        float[][] pooled = new float[layers][layers];
        float[][] perSample = new float[layers][layers];
        float[][] agreement = new float[layers][heads];
        for (Row r : rows) {
            float pr = floatOrNaN(r, "pooled_r");
            int x = r.<Integer>getAs("a");
            int y = r.<Integer>getAs("b");
            if (r.<String>getAs("kind").equals(Metrics.LAYER_CONDUCTANCE)) {
                pooled[x][y] = pr;
                perSample[x][y] = floatOrNaN(r, "sample_mean_r");
            } else {
                agreement[x][y] = pr;
            }
        }
        String[] names = ExplanationPage.layerLabels(layers);
        b.append("<div class=\"grid\">")
                .append(Html.heatmap("Layer × layer correlation of token conductance (pooled)", names, names, pooled, true))
                .append(Html.heatmap("Layer × layer correlation (per-sample mean, Fisher z)", names, names, perSample,
                        true))
                .append(Html.heatmap("Attention vs attention conductance, Pearson r per head", names, ExplanationPage.headLabels(heads),
                        agreement, true))
                .append("</div>");
    }

    /** How the methods agree (mean Spearman over words, per pair) and how faithful each is (AOPC), when run. */
    private static void methodsSection(SparkSession spark, StringBuilder b) {
        if (spark.sql("SELECT 1 FROM method_agreement LIMIT 1").isEmpty()) {
            b.append("<p class=\"note\">No method comparison in this run (job key methods).</p>");
            return;
        }
        agreementHeatmap(spark, b);
        faithfulnessCurves(spark, b);
        table(b, "Agreement: rank correlation of word scores, mean over samples (all targets)", spark.sql(
                "SELECT method_a, method_b, round(sum(CASE WHEN metric = 'spearman' THEN mean * count END) / "
                + "sum(CASE WHEN metric = 'spearman' THEN count END), 3) AS spearman, round(sum(CASE WHEN metric = "
                + "'kendall' THEN mean * count END) / sum(CASE WHEN metric = 'kendall' THEN count END), 3) AS kendall, "
                + "round(sum(CASE WHEN metric = 'top3_overlap' THEN mean * count END) / sum(CASE WHEN metric = "
                + "'top3_overlap' THEN count END), 3) AS top3_overlap FROM method_agreement WHERE unit = 'word' "
                + "GROUP BY method_a, method_b ORDER BY spearman DESC"));
        if (!spark.sql("SELECT 1 FROM faithfulness LIMIT 1").isEmpty()) {
            table(b, "Faithfulness (ERASER AOPC over 10, 20, 50% of the tokens; higher comprehensiveness and lower "
                    + "sufficiency are more faithful; random is the chance level)", spark.sql("SELECT method, "
                    + "round(sum(CASE WHEN metric = 'comprehensiveness' THEN mean * count END) / sum(CASE WHEN metric = "
                    + "'comprehensiveness' THEN count END), 4) AS comprehensiveness, round(sum(CASE WHEN metric = "
                    + "'sufficiency' THEN mean * count END) / sum(CASE WHEN metric = 'sufficiency' THEN count END), 4) "
                    + "AS sufficiency FROM faithfulness WHERE k = '" + Metrics.AOPC + "' GROUP BY method ORDER BY comprehensiveness DESC"));
        }
    }

    /** Method × method mean Spearman correlation of word scores (over samples and targets); 1 on the diagonal. */
    private static void agreementHeatmap(SparkSession spark, StringBuilder b) {
        List<Row> rows = spark.sql("SELECT method_a, method_b, sum(mean * count) / sum(count) AS r FROM method_agreement "
                + "WHERE unit = '" + Metrics.UNIT_WORD + "' AND metric = 'spearman' GROUP BY method_a, method_b")
                .collectAsList();
        java.util.SortedSet<String> names = new java.util.TreeSet<>();
        rows.forEach(r -> {
            names.add(r.<String>getAs("method_a"));
            names.add(r.<String>getAs("method_b"));
        });
        List<String> methods = new ArrayList<>(names);
        float[][] r = new float[methods.size()][methods.size()];
        for (int i = 0; i < methods.size(); i++) {
            java.util.Arrays.fill(r[i], Float.NaN);
            r[i][i] = 1;
        }
        for (Row row : rows) {
            int x = methods.indexOf(row.<String>getAs("method_a"));
            int y = methods.indexOf(row.<String>getAs("method_b"));
            r[x][y] = r[y][x] = floatOrNaN(row, "r");
        }
        String[] labels = methods.toArray(String[]::new);
        b.append(Html.heatmap("Method agreement: Spearman correlation of word scores, mean over samples", labels,
                labels, r, true));
    }

    /**
     * ERASER's comprehensiveness and sufficiency against the share k of top tokens removed (kept), per method and
     * for a random ranking (dashed), averaged over samples and targets.
     */
    private static void faithfulnessCurves(SparkSession spark, StringBuilder b) {
        List<Row> rows = spark.sql("SELECT method, metric, cast(k AS double) AS k, sum(mean * count) / sum(count) AS "
                + "value FROM faithfulness WHERE k <> '" + Metrics.AOPC + "' GROUP BY method, metric, k ORDER BY k")
                .collectAsList();
        if (rows.isEmpty()) {
            return;
        }
        double[] ks = rows.stream().mapToDouble(r -> r.<Double>getAs("k")).distinct().sorted().toArray();
        b.append("<div class=\"grid\">");
        for (String metric : List.of(Metrics.COMPREHENSIVENESS, Metrics.SUFFICIENCY)) {
            // Methods by name, the random ranking last.
            Map<String, double[]> series = new TreeMap<>(java.util.Comparator.comparing((String m) -> m.equals(
                    Faithfulness.RANDOM)).thenComparing(java.util.Comparator.naturalOrder()));
            for (Row r : rows) {
                if (r.<String>getAs("metric").equals(metric)) {
                    double[] v = series.computeIfAbsent(r.<String>getAs("method"), m -> {
                        double[] nan = new double[ks.length];
                        java.util.Arrays.fill(nan, Double.NaN);
                        return nan;
                    });
                    v[java.util.Arrays.binarySearch(ks, r.<Double>getAs("k"))] = r.<Double>getAs("value");
                }
            }
            b.append(Html.lineChart(metric.substring(0, 1).toUpperCase(Locale.ROOT) + metric.substring(1)
                    + (metric.equals(Metrics.COMPREHENSIVENESS) ? " (higher is more faithful)"
                    : " (lower is more faithful)"), "k: share of tokens", ks, series, Faithfulness.RANDOM));
        }
        b.append("</div>");
    }

    /** Rows shown per kind in the Contrasts view. */
    private static final int TOP_CONTRASTS = 20;

    /**
     * Contrasts between the values of each slice (slice_contrasts): the head metrics with the largest |Cohen's d|
     * first, then the tokens whose mean attribution differs most, each difference with its Welch 95% interval.
     */
    private static void contrastsSection(SparkSession spark, StringBuilder b) {
        b.append("<h2 id=\"contrasts\">Contrasts</h2>");
        if (!spark.catalog().tableExists(Table.SLICE_CONTRASTS.tableName())
                || spark.sql("SELECT 1 FROM slice_contrasts LIMIT 1").isEmpty()) {
            b.append("<p class=\"note\">No slices in this run: set the job key <code>slices</code> (e.g. "
                    + "<code>correct,length,column:source</code>) to compare the corpus's parts.</p>");
            return;
        }
        b.append("<h3>Heads that differ most between two values of a slice (largest |d| first)</h3>");
        contrastTable(b, spark.sql("SELECT slice, value_a, value_b, metric, concat('L', layer, '-H', head) AS head, "
                + "count_a, count_b, mean_a, mean_b, difference, ci_low, ci_high, cohens_d FROM slice_contrasts "
                + "WHERE kind = 'head' AND cohens_d IS NOT NULL ORDER BY abs(cohens_d) DESC, slice, metric LIMIT "
                + TOP_CONTRASTS).collectAsList(), "head", "cohens_d");
        List<Row> tokens = spark.sql("SELECT slice, value_a, value_b, concat(metric, ' (', unit, ', ', target, ')') "
                + "AS metric, token AS head, count_a, count_b, mean_a, mean_b, difference, ci_low, ci_high, cohens_d "
                + "FROM slice_contrasts WHERE kind = 'token' AND ci_low IS NOT NULL ORDER BY abs(difference) DESC, "
                + "token LIMIT " + TOP_CONTRASTS).collectAsList();
        if (!tokens.isEmpty()) {
            b.append("<h3>Tokens whose mean attribution differs most (largest |difference| first)</h3>");
            contrastTable(b, tokens, "token", "difference");
        }
    }

    private static void contrastTable(StringBuilder b, List<Row> rows, String unitName, String sortedBy) {
        b.append("<table class=\"data\"><tr><th>slice</th><th>a</th><th>b</th><th>metric</th><th>")
                .append(unitName).append("</th><th>n a / b</th><th>mean a</th><th>mean b</th><th>a − b [95% CI]</th>"
                        + "<th>Cohen's d</th></tr>");
        for (Row r : rows) {
            b.append("<tr><td>").append(Html.escape(r.getString(0))).append("</td><td>")
                    .append(Html.escape(r.getString(1))).append("</td><td>").append(Html.escape(r.getString(2)))
                    .append("</td><td>").append(Html.escape(r.getString(3))).append("</td><td>")
                    .append(Html.escape(r.getString(4))).append("</td><td>").append(r.getLong(5)).append(" / ")
                    .append(r.getLong(6)).append("</td><td>").append(number(r, 7)).append("</td><td>")
                    .append(number(r, 8)).append("</td><td>").append(number(r, 9)).append(" [").append(number(r, 10))
                    .append(", ").append(number(r, 11)).append("]</td><td>").append(number(r, 12)).append("</td></tr>");
        }
        b.append("</table><p class=\"note\">Sorted by ").append(sortedBy).append(". Differences from the moments "
                + "of each value's samples; the interval is Welch's (unequal variances).</p>");
    }

    private static String number(Row r, int i) {
        return r.isNullAt(i) ? "–" : String.format(java.util.Locale.ROOT, "%.4g", r.getDouble(i));
    }

    /** Tokens: per method (selectable) and target, the tokens with the largest mean score as a bar chart. */
    private static void tokensSection(SparkSession spark, StringBuilder b, SliceViews slices) {
        b.append("<h2 id=\"tokens\">Tokens</h2>");
        // Per method its word scores where it has them (word-level methods), else its word pieces'.
        spark.sql("SELECT method, CASE WHEN max(CASE WHEN unit = '" + Metrics.UNIT_WORD + "' THEN 1 ELSE 0 END) = 1 "
                + "THEN '" + Metrics.UNIT_WORD + "' ELSE '" + Metrics.UNIT_WORD_PIECE + "' END AS unit FROM "
                + "token_importance GROUP BY method").createOrReplaceTempView("token_units");
        List<Row> units = spark.sql("SELECT method FROM token_units ORDER BY method = '"
                + Metrics.PREFERRED_TOKEN_METHOD + "' DESC, method").collectAsList();
        if (units.isEmpty()) {
            b.append("<p class=\"note\">No token attributions in this run (level attention).</p>");
            return;
        }
        b.append("<div class=\"controls\"><label>method <select id=\"tok-method\">");
        units.forEach(u -> b.append("<option>").append(Html.escape(u.<String>getAs("method"))).append("</option>"));
        b.append("</select></label> <span class=\"note\">mean score over the corpus, tokens seen at least 3 times"
                + "</span></div>");
        slices.render(b, () -> tokensOfSlice(spark, b, units));
        b.append("""
                <script>
                (function () {
                  const pick = document.getElementById('tok-method');
                  function show() {
                    document.querySelectorAll('.tok-set').forEach(d => { d.hidden = d.dataset.method !== pick.value; });
                  }
                  pick.addEventListener('change', show);
                  show();
                })();
                </script>
                """);
    }

    /** Per method (the section's selector picks) the top tokens of each target in the slice the views hold. */
    private static void tokensOfSlice(SparkSession spark, StringBuilder b, List<Row> units) {
        Map<String, Map<String, List<Row>>> top = new LinkedHashMap<>(); // method → target → rows
        units.forEach(u -> top.put(u.<String>getAs("method"), new TreeMap<>()));
        spark.sql("SELECT method, target, token, mean, count FROM (SELECT t.*, row_number() OVER (PARTITION BY "
                + "t.method, t.target ORDER BY t.mean DESC) AS rank FROM token_importance t JOIN token_units u "
                + "ON t.method = u.method AND t.unit = u.unit WHERE t.count >= 3) WHERE rank <= 12 "
                + "ORDER BY method, target, rank").collectAsList().forEach(r -> top.get(r.<String>getAs("method"))
                .computeIfAbsent(r.<String>getAs("target"), k -> new ArrayList<>()).add(r));
        top.forEach((method, byTarget) -> {
            b.append("<div class=\"grid tok-set\" data-method=\"").append(Html.escape(method)).append("\">");
            byTarget.forEach((target, rows) -> b.append(Html.barChart("Top tokens for " + target + " (" + method + ")",
                    rows.stream().map(r -> r.<String>getAs("token")).toArray(String[]::new),
                    rows.stream().mapToDouble(r -> r.<Double>getAs("mean")).toArray())));
            if (byTarget.isEmpty()) {
                b.append("<p class=\"note\">No token seen 3 times or more.</p>");
            }
            b.append("</div>");
        });
    }

    /** The dumped samples: tokens coloured by attribution, conductance heatmap, head view (rendered by script). */
    private static void explorer(SparkSession spark, String run, StringBuilder b) {
        b.append("<h2 id=\"explorer\">Sample explorer</h2>");
        List<Row> rows = spark.sql("SELECT m.id, m.tokens, m.attentions, m.attention_conductance, m.norm_alpha_fx, "
                + "m.queries, m.keys, m.score_offsets, m.score_scale, s.text, s.text_pair, "
                + "s.label, s.prediction, s.targets[0].token_attributions AS attribution, "
                + "s.targets[0].layer_token_conductance AS layer_conductance, s.targets[0].label AS target, "
                + "s.targets[0].methods AS methods FROM sample_matrices m JOIN samples s ON m.id = s.id ORDER BY m.id")
                .collectAsList();
        if (rows.isEmpty()) {
            b.append("<p class=\"note\">No dumped samples: set dump.ids or dump.count when running the job.</p>");
            return;
        }
        JsonArray samples = new JsonArray();
        for (Row r : rows) { // read by column name
            JsonObject o = new JsonObject();
            o.addProperty("id", r.<String>getAs("id"));
            o.add("tokens", SCRIPT_SAFE.toJsonTree(r.getList(r.fieldIndex("tokens"))));
            o.add("attention", SCRIPT_SAFE.toJsonTree(nested(r.getAs("attentions"))));
            for (String[] matrix : new String[][] {{"attention_conductance", "conductance"}, {"norm_alpha_fx", "norms"},
                {"attribution", "attribution"}, {"layer_conductance", "layer_conductance"}, {"queries", "queries"},
                {"keys", "keys"}, {"score_offsets", "score_offsets"}}) {
                if (!r.isNullAt(r.fieldIndex(matrix[0]))) {
                    o.add(matrix[1], SCRIPT_SAFE.toJsonTree(nested(r.getAs(matrix[0]))));
                }
            }
            for (String field : List.of("text", "text_pair", "label", "prediction", "target")) {
                o.addProperty(field, r.<String>getAs(field));
            }
            if (!r.isNullAt(r.fieldIndex("score_scale"))) {
                o.addProperty("score_scale", r.<Float>getAs("score_scale"));
            }
            if (!r.isNullAt(r.fieldIndex("methods"))) { // each method's token scores (and bias part), by name
                JsonObject methods = new JsonObject();
                JsonObject biasParts = new JsonObject();
                r.<String, Row>getJavaMap(r.fieldIndex("methods")).forEach((name, scores) -> {
                    int tokens = scores.fieldIndex("token_scores");
                    if (!scores.isNullAt(tokens)) {
                        methods.add(name, SCRIPT_SAFE.toJsonTree(nested(scores.get(tokens))));
                    }
                    // runs written before the bias part was a field have none
                    int bias = java.util.Arrays.asList(scores.schema().fieldNames()).indexOf("bias_part");
                    if (bias >= 0 && !scores.isNullAt(bias)) {
                        biasParts.addProperty(name, scores.getFloat(bias));
                    }
                });
                o.add("methods", methods);
                if (biasParts.size() > 0) {
                    o.add("bias_parts", biasParts);
                }
            }
            samples.add(o);
        }
        if (spark.catalog().tableExists(Table.TOKEN_EMBEDDINGS.tableName())) { // registered by render when present
            embedNeighbours(spark, run, samples);
        }
        b.append("<div class=\"controls\"><label>sample <select id=\"ex-sample\"></select></label></div>"
                + "<table class=\"kv\" id=\"ex-info\"></table><h3>Token attributions (first target), one row per method"
                + "</h3><table class=\"tokens\" id=\"ex-tokens\"></table><h3>Layer conductance (layer × token)</h3>"
                + "<svg id=\"ex-cond\" xmlns=\"http://www.w3.org/2000/svg\" width=\"10\" height=\"10\"></svg>"
                + "<h3>Model view: every layer × head</h3><div class=\"controls\"><label>show <select id=\"mv-mode\">"
                + "</select></label><span class=\"note\">each map is query (rows) × key (columns), on its own scale; "
                + "click one to open it in the head view</span></div><div id=\"mv\" class=\"model-view\"></div>"
                + "<h3 id=\"head-view\">Head view</h3>" + Html.HEAD_VIEW_MARKUP
                + "<h3 id=\"neuron-view\">Neuron view: how one query token's scores come about</h3>"
                + Html.NEURON_VIEW_MARKUP
                + "<h3 id=\"neighbours\">Corpus neighbours (exBERT): the corpus tokens nearest in context</h3>"
                + "<div class=\"controls\"><label>token <select id=\"nb-token\"></select></label><label>layer "
                + "<select id=\"nb-layer\"></select></label><label>attended in head <select id=\"nb-head\"></select>"
                + "</label></div><p class=\"note\" id=\"nb-note\">The corpus tokens whose contextual embedding at the "
                + "layer is nearest by cosine (exact search over the run's token_embeddings), each in its context, "
                + "with the token the chosen head attends to most from it. atlas neighbors answers the same for any "
                + "kept token.</p><table class=\"data\" id=\"nb\"></table>");
        b.append("<script type=\"application/json\" id=\"ex-data\">").append(SCRIPT_SAFE.toJson(samples))
                .append("</script>").append(Html.HEAD_VIEW_SCRIPT)
                .append(Html.NEURON_VIEW_SCRIPT);
        b.append("""
                <script>
                (function () {
                  const samples = JSON.parse(document.getElementById('ex-data').textContent);
                  const ns = 'http://www.w3.org/2000/svg';
                  const pick = document.getElementById('ex-sample');
                  samples.forEach((s, i) => pick.add(new Option(s.id, i)));
                  function colour(v, scale) {
                    const t = scale > 0 ? Math.max(-1, Math.min(1, v / scale)) : 0;
                    if (t >= 0) return `rgb(${Math.round(255 - t * 221)},${Math.round(255 - t * 116)},${Math.round(255 - t * 221)})`;
                    return `rgb(${Math.round(255 + t * 55)},${Math.round(255 + t * 225)},${Math.round(255 + t * 225)})`;
                  }
                  function svgText(svg, x, y, text, anchor, rotate) {
                    const t = document.createElementNS(ns, 'text');
                    t.setAttribute('x', x); t.setAttribute('y', y); t.setAttribute('text-anchor', anchor);
                    t.setAttribute('class', 'axis');
                    if (rotate) t.setAttribute('transform', `rotate(-60 ${x} ${y})`);
                    t.textContent = text;
                    svg.appendChild(t);
                  }
                  function info(s) {
                    const table = document.getElementById('ex-info');
                    table.replaceChildren();
                    [['text', s.text], ['text pair', s.text_pair], ['label', s.label], ['prediction', s.prediction],
                     ['target', s.target]].forEach(([k, v]) => {
                      if (v === null || v === undefined) return;
                      const tr = table.insertRow();
                      tr.insertCell().textContent = k;
                      tr.insertCell().textContent = v;
                    });
                  }
                  function tokens(s) { // integrated gradients (the sweep's), then every method that ran, by name
                    const table = document.getElementById('ex-tokens');
                    table.replaceChildren();
                    const rows = [];
                    const byName = s.methods || {};
                    if (s.attribution && !byName.integrated_gradients) rows.push(['integrated gradients (sweep)', s.attribution]);
                    Object.entries(byName).forEach(([name, a]) => rows.push([name, a]));
                    rows.forEach(([name, a]) => {
                      const tr = table.insertRow();
                      const label = tr.insertCell();
                      label.className = 'method';
                      label.textContent = name;
                      const cell = tr.insertCell();
                      const scale = Math.max(0, ...a.map(Math.abs)); // each method on its own scale
                      s.tokens.forEach((tok, i) => {
                        const span = document.createElement('span');
                        span.className = 'tok';
                        span.textContent = tok;
                        span.style.background = colour(a[i], scale);
                        span.title = name + ', ' + tok + ': ' + a[i].toFixed(4);
                        cell.appendChild(span);
                        cell.appendChild(document.createTextNode(' '));
                      });
                      const bias = (s.bias_parts || {})[name]; // the part of the score that belongs to no token
                      if (bias !== undefined) cell.appendChild(document.createTextNode('bias part ' + bias.toFixed(4)));
                    });
                  }
                  function conductance(s) {
                    const svg = document.getElementById('ex-cond');
                    svg.replaceChildren();
                    const c = s.layer_conductance;
                    if (!c) { svg.setAttribute('height', 10); return; }
                    const cell = 22, left = 70, top = 12 + 5 * Math.max(...s.tokens.map(t => Math.min(t.length, 24)));
                    svg.setAttribute('width', left + cell * s.tokens.length + 20);
                    svg.setAttribute('height', top + cell * c.length + 10);
                    const scale = Math.max(0, ...c.flat().map(Math.abs));
                    s.tokens.forEach((tok, j) => svgText(svg, left + j * cell + cell / 2, top - 6, tok, 'start', true));
                    c.forEach((row, l) => {
                      svgText(svg, left - 6, top + l * cell + cell / 2 + 4, 'layer ' + l, 'end', false);
                      row.forEach((v, j) => {
                        const r = document.createElementNS(ns, 'rect');
                        r.setAttribute('x', left + j * cell); r.setAttribute('y', top + l * cell);
                        r.setAttribute('width', cell - 1); r.setAttribute('height', cell - 1);
                        r.setAttribute('fill', colour(v, scale));
                        const title = document.createElementNS(ns, 'title');
                        title.textContent = 'layer ' + l + ', ' + s.tokens[j] + ': ' + v.toFixed(4);
                        r.appendChild(title);
                        svg.appendChild(r);
                      });
                    });
                  }
                  const mvMode = document.getElementById('mv-mode');
                  function modelView(s) { // BertViz's model view: a small map per layer and head
                    const chosen = mvMode.value;
                    mvMode.replaceChildren();
                    mvMode.add(new Option('attention', 'attention'));
                    if (s.conductance) mvMode.add(new Option('attention conductance', 'conductance'));
                    if (s.norms) mvMode.add(new Option('Kobayashi norms ‖αf(x)‖', 'norms'));
                    if ([...mvMode.options].some(o => o.value === chosen)) mvMode.value = chosen;
                    const grid = document.getElementById('mv');
                    grid.replaceChildren();
                    const signed = mvMode.value === 'conductance';
                    const src = s[mvMode.value];
                    const n = s.tokens.length, px = Math.max(2, Math.floor(72 / n));
                    src.forEach((layer, l) => {
                      const row = document.createElement('div');
                      row.className = 'mv-row';
                      const label = document.createElement('span');
                      label.className = 'mv-label';
                      label.textContent = 'L' + l;
                      row.appendChild(label);
                      layer.forEach((m, h) => {
                        const c = document.createElement('canvas');
                        c.width = c.height = n * px;
                        c.title = 'layer ' + l + ', head ' + h;
                        const ctx = c.getContext('2d');
                        const scale = Math.max(0, ...m.flat().map(Math.abs));
                        m.forEach((r, i) => r.forEach((v, j) => {
                          ctx.fillStyle = signed ? colour(v, scale)
                            : `rgb(${Math.round(255 - 224 * (scale > 0 ? v / scale : 0))},${Math.round(255 - 160 * (scale > 0 ? v / scale : 0))},255)`;
                          ctx.fillRect(j * px, i * px, px, px);
                        }));
                        c.addEventListener('click', () => {
                          document.getElementById('hv-layer').value = l;
                          document.getElementById('hv-head').value = h;
                          document.getElementById('hv-mode').value = mvMode.value;
                          document.getElementById('hv-mode').onchange();
                          document.getElementById('head-view').scrollIntoView();
                        });
                        row.appendChild(c);
                      });
                      grid.appendChild(row);
                    });
                  }
                  mvMode.addEventListener('change', () => modelView(samples[+pick.value]));
                  const nbToken = document.getElementById('nb-token'), nbLayer = document.getElementById('nb-layer');
                  const nbHead = document.getElementById('nb-head');
                  function neighbours(s) { // exBERT: precomputed nearest corpus tokens of each token
                    const table = document.getElementById('nb');
                    [nbToken, nbLayer, nbHead].forEach(el => el.replaceChildren());
                    table.replaceChildren();
                    if (!s.neighbours) {
                      document.getElementById('nb-note').textContent = 'No corpus neighbours: the run kept no '
                        + 'token_embeddings for this sample (embeddings.layers).';
                      return;
                    }
                    s.tokens.forEach((t, i) => nbToken.add(new Option(i + ': ' + t, i)));
                    if (s.tokens.length > 2) nbToken.value = 1; // the first token after [CLS] / <s>
                    Object.keys(s.neighbours).forEach(l => nbLayer.add(new Option('layer ' + l, l)));
                    const heads = s.attention ? s.attention[0].length : 0;
                    for (let h = 0; h < heads; h++) nbHead.add(new Option('head ' + h, h));
                    function draw() {
                      table.replaceChildren();
                      const head = table.insertRow();
                      ['cosine', 'sample:position', 'context', 'attends to most'].forEach(t => {
                        const th = document.createElement('th'); th.textContent = t; head.appendChild(th);
                      });
                      (s.neighbours[nbLayer.value] || [])[+nbToken.value].forEach(nb => {
                        const tr = table.insertRow();
                        tr.insertCell().textContent = nb.cosine.toFixed(3);
                        tr.insertCell().textContent = nb.id + ':' + nb.position;
                        const c = tr.insertCell();
                        c.appendChild(document.createTextNode(nb.before + ' '));
                        const b = document.createElement('b'); b.textContent = nb.token; c.appendChild(b);
                        c.appendChild(document.createTextNode(' ' + nb.after));
                        tr.insertCell().textContent = nb.attended[+nbHead.value] ?? '';
                      });
                    }
                    [nbToken, nbLayer, nbHead].forEach(el => { el.onchange = draw; });
                    draw();
                  }
                  function showSample() {
                    const s = samples[+pick.value];
                    info(s); tokens(s); conductance(s); atlasHeadView(s); modelView(s); atlasNeuronView(s);
                    neighbours(s);
                  }
                  pick.addEventListener('change', showSample);
                  showSample();
                })();
                </script>
                """);
    }

    /** Nearest corpus tokens per dumped token and layer, embedded so that the page needs nothing else. */
    static final int REPORT_NEIGHBOURS = 8;

    /**
     * Adds to each dumped sample {@code neighbours: {layer: [per token: [neighbour…]]}}: the
     * {@value #REPORT_NEIGHBOURS} corpus tokens nearest to each of its tokens at every layer of token_embeddings (a
     * dumped sample keeps every position), by exact search ({@link CorpusNeighbours}).
     */
    private static void embedNeighbours(SparkSession spark, String run, JsonArray samples) {
        for (int layer : CorpusNeighbours.layers(spark, run)) {
            try (CorpusNeighbours index = CorpusNeighbours.load(spark, run, layer,
                    io.attributionatlas.model.DeviceChoice.AUTO.resolve())) {
                for (var element : samples) {
                    JsonObject sample = element.getAsJsonObject();
                    String id = sample.get("id").getAsString();
                    int n = sample.getAsJsonArray("tokens").size();
                    int[] rows = java.util.stream.IntStream.range(0, n).map(p -> index.row(id, p)).toArray();
                    if (java.util.Arrays.stream(rows).anyMatch(r -> r < 0)) {
                        continue; // dumped before token_embeddings kept every position of dumped samples
                    }
                    JsonArray perToken = new JsonArray();
                    for (List<CorpusNeighbours.Neighbour> found : index.nearest(rows, REPORT_NEIGHBOURS)) {
                        JsonArray list = new JsonArray();
                        found.forEach(nb -> {
                            JsonObject o = new JsonObject();
                            o.addProperty("id", nb.id());
                            o.addProperty("position", nb.position());
                            o.addProperty("token", nb.token());
                            o.addProperty("before", nb.before());
                            o.addProperty("after", nb.after());
                            o.add("attended", SCRIPT_SAFE.toJsonTree(nb.attended()));
                            o.addProperty("cosine", Math.round(nb.cosine() * 1e4) / 1e4);
                            list.add(o);
                        });
                        perToken.add(list);
                    }
                    if (!sample.has("neighbours")) {
                        sample.add("neighbours", new JsonObject());
                    }
                    sample.getAsJsonObject("neighbours").add(String.valueOf(layer), perToken);
                }
            }
        }
    }

    private static boolean hasTable(SparkSession spark, String run, Table table) {
        try {
            org.apache.hadoop.fs.Path path = new org.apache.hadoop.fs.Path(run + "/" + table.tableName());
            return path.getFileSystem(spark.sparkContext().hadoopConfiguration()).exists(path);
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /** Spark's nested Seqs as Java lists for JSON, numbers to 3 significant digits (enough to draw them). */
    private static Object nested(Object v) {
        if (v instanceof scala.collection.Seq<?> seq) {
            List<Object> out = new ArrayList<>();
            scala.jdk.javaapi.CollectionConverters.asJava(seq).forEach(x -> out.add(nested(x)));
            return out;
        }
        if (v instanceof Float f && Float.isFinite(f)) {
            return new java.math.BigDecimal(f).round(new java.math.MathContext(3)).stripTrailingZeros();
        }
        return v;
    }

    /** A query's result as an HTML table, every cell escaped. */
    private static void table(StringBuilder b, String title, Dataset<Row> rows) {
        b.append("<h3>").append(Html.escape(title)).append("</h3>");
        List<Row> list = rows.collectAsList();
        if (list.isEmpty()) {
            b.append("<p class=\"note\">none</p>");
            return;
        }
        b.append("<table class=\"data\"><tr>");
        for (String c : rows.columns()) {
            b.append("<th>").append(Html.escape(c)).append("</th>");
        }
        b.append("</tr>");
        for (Row r : list) {
            b.append("<tr>");
            for (int i = 0; i < r.size(); i++) {
                b.append("<td>").append(r.isNullAt(i) ? "" : Html.escape(String.valueOf(r.get(i)))).append("</td>");
            }
            b.append("</tr>");
        }
        b.append("</table>");
    }

    /** A nullable double column as a float, NaN where null. */
    private static float floatOrNaN(Row r, String column) {
        int i = r.fieldIndex(column);
        return r.isNullAt(i) ? Float.NaN : (float) r.getDouble(i);
    }
}
