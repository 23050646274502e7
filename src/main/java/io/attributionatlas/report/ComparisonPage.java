package io.attributionatlas.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * {@code atlas compare}'s page, in the run report's style and as self-contained: the samples whose prediction
 * flipped first, then the distribution of the two models' word-attribution agreement, a heatmap of every head
 * metric's shift (b − a) and the words whose importance rank shifted most. All corpus text is escaped.
 */
public final class ComparisonPage {

    /** Flipped samples and shifted words listed. */
    private static final int SHOWN = 50;
    private static final int BINS = 10;

    private ComparisonPage() {
    }

    /** The page for the comparison tables under {@code dir} (compare_samples, compare_heads, compare_tokens). */
    public static String render(SparkSession spark, String dir, String runA, String runB) {
        spark.read().parquet(dir + "/compare_samples").createOrReplaceTempView("compare_samples");
        spark.read().parquet(dir + "/compare_heads").createOrReplaceTempView("compare_heads");
        spark.read().parquet(dir + "/compare_tokens").createOrReplaceTempView("compare_tokens");
        StringBuilder b = new StringBuilder("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
                + "Attribution Atlas — model comparison</title><style>").append(Html.STYLE).append("""
                table.data{border-collapse:collapse;font-size:13px;margin:6px 0 16px 0}
                table.data td,table.data th{border:1px solid #ddd;padding:3px 8px;text-align:left}
                table.data th{background:#f4f4f4}
                """).append("</style></head><body><h1>Attribution Atlas — model comparison</h1>");
        Row counts = spark.sql("SELECT count(*) AS n, sum(CASE WHEN flip THEN 1 ELSE 0 END) AS flips, "
                + "avg(spearman) AS spearman, avg(top5_overlap) AS overlap FROM compare_samples").first();
        b.append("<p>a: <code>").append(Html.escape(runA)).append("</code><br>b: <code>").append(Html.escape(runB))
                .append("</code></p><p>").append(counts.getLong(0)).append(" common samples, ").append(counts.getLong(1))
                .append(" flipped predictions; mean Spearman of the word attributions ").append(number(counts, 2))
                .append(", mean top-5 overlap ").append(number(counts, 3)).append(".</p>");
        b.append("<h2 id=\"flips\">Flipped predictions</h2>");
        List<Row> flips = spark.sql("SELECT id, text, label, prediction_a, prediction_b, confidence_a, confidence_b, "
                + "spearman FROM compare_samples WHERE flip ORDER BY abs(delta_confidence) DESC, id LIMIT " + SHOWN)
                .collectAsList();
        if (flips.isEmpty()) {
            b.append("<p class=\"note\">No prediction differs.</p>");
        } else {
            b.append("<table class=\"data\"><tr><th>id</th><th>text</th><th>label</th><th>a</th><th>b</th>"
                    + "<th>confidence a → b</th><th>Spearman</th></tr>");
            for (Row r : flips) {
                row(b, r.getString(0), r.getString(1), r.getString(2), r.getString(3), r.getString(4),
                        number(r, 5) + " → " + number(r, 6), number(r, 7));
            }
            b.append("</table>");
        }
        b.append("<h2 id=\"agreement\">Agreement of the word attributions</h2><div class=\"grid\">");
        for (String metric : List.of("spearman", "top5_overlap")) {
            double low = metric.equals("spearman") ? -1 : 0;
            double[] bins = new double[BINS];
            String[] labels = new String[BINS];
            for (int i = 0; i < BINS; i++) {
                labels[i] = String.format(Locale.ROOT, "%.1f–%.1f", low + i * (1 - low) / BINS,
                        low + (i + 1) * (1 - low) / BINS);
            }
            for (Row r : spark.sql("SELECT least(" + (BINS - 1) + ", CAST(floor((" + metric + " - (" + low + ")) / "
                    + ((1 - low) / BINS) + ") AS INT)) AS bin, count(*) FROM compare_samples WHERE " + metric
                    + " IS NOT NULL GROUP BY 1").collectAsList()) {
                bins[Math.max(0, r.getInt(0))] += r.getLong(1);
            }
            b.append(Html.barChart("Samples by " + metric, labels, bins));
        }
        b.append("</div><h2 id=\"heads\">Head metric shifts (b − a)</h2><div class=\"grid\">");
        Map<String, List<Row>> byMetric = new LinkedHashMap<>();
        spark.sql("SELECT metric, layer, coalesce(head, -1) AS head, shift FROM compare_heads ORDER BY metric, layer, "
                + "head").collectAsList().forEach(r -> byMetric.computeIfAbsent(r.getString(0),
                        k -> new ArrayList<>()).add(r));
        byMetric.forEach((metric, rows) -> {
            int layers = rows.stream().mapToInt(r -> r.getInt(1)).max().orElse(0) + 1;
            int heads = rows.stream().mapToInt(r -> r.getInt(2)).max().orElse(0) + 1;
            float[][] shift = new float[layers][Math.max(1, heads)];
            rows.forEach(r -> shift[r.getInt(1)][Math.max(0, r.getInt(2))] = (float) r.getDouble(3));
            String[] rowLabels = new String[layers];
            String[] columnLabels = new String[Math.max(1, heads)];
            for (int l = 0; l < layers; l++) {
                rowLabels[l] = "L" + l;
            }
            for (int h = 0; h < columnLabels.length; h++) {
                columnLabels[h] = heads == 0 ? "mean of heads" : "H" + h;
            }
            b.append(Html.heatmap(metric, rowLabels, columnLabels, shift, true));
        });
        b.append("</div><h2 id=\"tokens\">Words whose importance rank shifted most</h2>");
        List<Row> tokens = spark.sql("SELECT method, unit, target, token, rank_a, rank_b, rank_shift, mean_a, mean_b "
                + "FROM compare_tokens ORDER BY abs(rank_shift) DESC, token LIMIT " + SHOWN).collectAsList();
        if (tokens.isEmpty()) {
            b.append("<p class=\"note\">No word is ranked in both runs (token attributions need level gradient or "
                    + "full).</p>");
        } else {
            b.append("<table class=\"data\"><tr><th>method</th><th>unit</th><th>target</th><th>word</th>"
                    + "<th>rank a → b</th><th>mean a</th><th>mean b</th></tr>");
            for (Row r : tokens) {
                row(b, r.getString(0), r.getString(1), r.getString(2), r.getString(3), r.get(4) + " → " + r.get(5),
                        number(r, 7), number(r, 8));
            }
            b.append("</table>");
        }
        return b.append("</body></html>").toString();
    }

    /** A table row of escaped cells. */
    private static void row(StringBuilder b, String... cells) {
        b.append("<tr>");
        for (String c : cells) {
            b.append("<td>").append(Html.escape(c)).append("</td>");
        }
        b.append("</tr>");
    }

    private static String number(Row r, int i) {
        return r.isNullAt(i) ? "–" : String.format(Locale.ROOT, "%.4g", ((Number) r.get(i)).doubleValue());
    }
}
