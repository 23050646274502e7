package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Moments;
import io.attributionatlas.schema.Metrics;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.expressions.WindowSpec;
import org.apache.spark.sql.functions;

/** The short summary a run prints: where the tables are, top heads by [SEP] attention, top tokens per class. */
final class JobSummary {

    private JobSummary() {
    }

    static void print(AttributionJob.Result r, PrintStream out) {
        CorpusStatistics s = r.statistics();
        out.println("tables: " + r.output() + "/{" + String.join(",", java.util.Arrays.stream(
                io.attributionatlas.schema.Table.values()).map(io.attributionatlas.schema.Table::tableName).toList())
                + "}");
        Moments[] sep = s.headStats().get(Metrics.ATTN_SEP);
        if (sep != null) {
            List<Integer> heads = new ArrayList<>();
            for (int i = 0; i < sep.length; i++) {
                heads.add(i);
            }
            heads.sort(Comparator.comparingDouble(i -> -sep[i].mean()));
            StringBuilder b = new StringBuilder("top heads by attention to [SEP]:");
            for (int i : heads.subList(0, Math.min(5, heads.size()))) {
                b.append(String.format(Locale.ROOT, "  L%d-H%d %.3f", i / s.heads(), i % s.heads(), sep[i].mean()));
            }
            out.println(b);
        }
        String target = null;
        StringBuilder b = null;
        for (Row t : r.topTokens()) {
            if (!t.getString(0).equals(target)) {
                if (b != null) {
                    out.println(b);
                }
                target = t.getString(0);
                b = new StringBuilder("most important tokens for " + target + " (" + t.getString(1)
                        + ", mean, seen ≥ 3 times):");
            }
            b.append(String.format(Locale.ROOT, "  %s %.3f", t.getString(2), t.getDouble(3)));
        }
        if (b != null) {
            out.println(b);
        }
    }

    /** Word pieces shown per target. */
    private static final int TOP_TOKENS = 8;

    /**
     * The summary's tokens, from the token_importance table: per target, the word pieces of one method (the run's
     * token source, else integrated gradients or the first method there is) with the highest mean, seen at least
     * 3 times, letters only and no special tokens. Rows (target, method, token, mean), ordered by target and rank.
     */
    static List<Row> topTokens(Dataset<Row> tokenImportance, String tokenSource) {
        Dataset<Row> pieces = tokenImportance.filter(functions.col("unit").equalTo(Metrics.UNIT_WORD_PIECE));
        String method = tokenSource;
        if (method == null) {
            List<Row> methods = pieces.select("method").distinct().collectAsList();
            method = methods.stream().map(m -> m.getString(0)).min(Comparator.comparing(
                    (String m) -> !m.equals(Metrics.PREFERRED_TOKEN_METHOD)).thenComparing(m -> m)).orElse(null);
            if (method == null) {
                return List.of();
            }
        }
        WindowSpec byTarget = Window.partitionBy("target").orderBy(functions.col("mean").desc(),
                functions.col("token"));
        return pieces.filter(functions.col("method").equalTo(method).and(functions.col("count").geq(3))
                        .and(functions.not(functions.col("token").startsWith("[")))
                        .and(functions.col("token").rlike("\\p{L}")))
                .withColumn("rank", functions.row_number().over(byTarget))
                .filter(functions.col("rank").leq(TOP_TOKENS))
                .select(functions.col("target"), functions.col("method"), functions.col("token"), functions.col("mean"))
                .orderBy(functions.col("target"), functions.col("mean").desc(), functions.col("token"))
                .collectAsList();
    }
}
