package io.attributionatlas.job;

import io.attributionatlas.analysis.Contrast;
import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Moments;
import io.attributionatlas.analysis.SlicedStatistics;
import io.attributionatlas.analysis.Slices;
import io.attributionatlas.schema.Keys;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.api.java.UDF6;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * The slice_contrasts table: for every slice definition and every pair of its values (for {@code correct}: true
 * vs false; otherwise in value order, a before b), the difference of means a − b with Welch's 95% interval and
 * Cohen's d ({@link Contrast}, from the mergeable moments):
 * <ul>
 * <li>{@code kind = head}: every head metric of head_stats, per layer and head;</li>
 * <li>{@code kind = token}: per method, unit and target, the {@value #TOP_TOKENS} tokens (or words) whose mean
 * attribution differs most (|a − b|) among those scored at least twice in both values.</li>
 * </ul>
 * Head rows are computed on the executors, pairs spread over tasks, from the slices' moments (broadcast); token rows
 * are a Spark join of token_importance with itself.
 */
final class SliceContrasts {

    /** Tokens kept per slice pair, method, unit and target. */
    static final int TOP_TOKENS = 20;
    static final String HEAD = "head";
    static final String TOKEN = "token";


    private SliceContrasts() {
    }

    /** Whether (a, b) is a contrast's order: true before false for {@code correct}, else value order. */
    static boolean ordered(String slice, String a, String b) {
        return slice.equals("correct") ? a.equals("true") && b.equals("false") : a.compareTo(b) < 0;
    }

    /** One pair of values of one definition. */
    private record Pair(String slice, String a, String b) implements java.io.Serializable {
    }

    static Dataset<Row> table(SparkSession spark, JavaSparkContext jsc, SlicedStatistics sliced,
            Dataset<Row> tokenImportance) {
        // every slice's head moments (small: values × metrics × heads), for the tasks that pair them
        Map<Keys.Slice, Map<String, Moments[]>> moments = new TreeMap<>();
        Map<String, List<String>> values = new TreeMap<>();
        int heads = 0;
        for (Map.Entry<Keys.Slice, CorpusStatistics> e : sliced.bySlice().entrySet()) {
            if (!e.getKey().slice().equals(Slices.ALL)) {
                moments.put(e.getKey(), new HashMap<>(e.getValue().headStats()));
                values.computeIfAbsent(e.getKey().slice(), k -> new ArrayList<>()).add(e.getKey().value());
            }
            heads = e.getValue().heads();
        }
        List<Pair> pairs = new ArrayList<>();
        values.forEach((slice, vs) -> {
            for (String a : vs) {
                for (String b : vs) {
                    if (ordered(slice, a, b)) {
                        pairs.add(new Pair(slice, a, b));
                    }
                }
            }
        });
        Broadcast<Map<Keys.Slice, Map<String, Moments[]>>> shared = jsc.broadcast(moments);
        int h = heads;
        JavaRDD<Row> headRows = jsc.parallelize(pairs, Math.max(1, Math.min(pairs.size(), jsc.defaultParallelism())))
                .flatMap(p -> headRows(p, shared.value(), h).iterator());
        Dataset<Row> byHead = spark.createDataFrame(headRows, Tables.SLICE_CONTRASTS_SCHEMA);
        return byHead.unionByName(tokenRows(tokenImportance)).coalesce(1);
    }

    private static List<Row> headRows(Pair p, Map<Keys.Slice, Map<String, Moments[]>> moments, int heads) {
        Map<String, Moments[]> a = moments.get(new Keys.Slice(p.slice(), p.a()));
        Map<String, Moments[]> b = moments.get(new Keys.Slice(p.slice(), p.b()));
        List<Row> rows = new ArrayList<>();
        for (Map.Entry<String, Moments[]> m : new TreeMap<>(a).entrySet()) {
            Moments[] other = b.get(m.getKey());
            if (other == null) {
                continue;
            }
            for (int i = 0; i < other.length; i++) {
                Moments x = m.getValue()[i];
                Moments y = other[i];
                Contrast c = Contrast.welch(x.count(), x.mean(), x.std(), y.count(), y.mean(), y.std());
                rows.add(NamedRow.of(Tables.SLICE_CONTRASTS_SCHEMA).set(Keys.Slice.COLUMN, p.slice()).set("value_a", p.a())
                        .set("value_b", p.b()).set("kind", HEAD).set("metric", m.getKey()).set("unit", null)
                        .set("target", null).set("layer", i / heads).set("head", i % heads).set("token", null)
                        .set("count_a", x.count()).set("count_b", y.count()).set("mean_a", x.mean())
                        .set("mean_b", y.mean()).set("difference", nan(c.difference())).set("ci_low", nan(c.low()))
                        .set("ci_high", nan(c.high())).set("df", nan(c.degreesOfFreedom()))
                        .set("cohens_d", nan(c.cohensD())).row());
            }
        }
        return rows;
    }

    private static Double nan(double v) {
        return Double.isNaN(v) ? null : v;
    }

    /** The tokens whose mean differs most between two values of a slice, from token_importance joined with itself. */
    private static Dataset<Row> tokenRows(Dataset<Row> tokenImportance) {
        StructType welch = new StructType().add("difference", DataTypes.DoubleType)
                .add("ci_low", DataTypes.DoubleType).add("ci_high", DataTypes.DoubleType)
                .add("df", DataTypes.DoubleType).add("cohens_d", DataTypes.DoubleType);
        // an unnamed function: registering a name in a shared session would replace (and warn about) an earlier run's
        org.apache.spark.sql.expressions.UserDefinedFunction welchOf = functions.udf(
                (UDF6<Long, Double, Double, Long, Double, Double, Row>)
                (na, ma, sa, nb, mb, sb) -> {
                    Contrast c = Contrast.welch(na, ma, sa, nb, mb, sb);
                    return org.apache.spark.sql.RowFactory.create(nan(c.difference()), nan(c.low()), nan(c.high()),
                            nan(c.degreesOfFreedom()), nan(c.cohensD()));
                }, welch);
        Dataset<Row> t = tokenImportance.filter(functions.col(Keys.Slice.COLUMN).notEqual(Slices.ALL)
                .and(functions.col("count").geq(2)));
        Dataset<Row> a = t.as("a");
        Dataset<Row> b = t.as("b");
        Dataset<Row> joined = a.join(b, functions.expr("a.slice = b.slice AND a.method = b.method AND a.unit = b.unit "
                + "AND a.token = b.token AND a.target = b.target AND (CASE WHEN a.slice = 'correct' THEN "
                + "a.slice_value = 'true' AND b.slice_value = 'false' ELSE a.slice_value < b.slice_value END)"));
        Dataset<Row> rows = joined.select(functions.col("a.slice").as(Keys.Slice.COLUMN),
                functions.col("a.slice_value").as("value_a"), functions.col("b.slice_value").as("value_b"),
                functions.lit(TOKEN).as("kind"), functions.col("a.method").as("metric"),
                functions.col("a.unit").as("unit"), functions.col("a.target").as("target"),
                functions.lit(null).cast(DataTypes.IntegerType).as("layer"),
                functions.lit(null).cast(DataTypes.IntegerType).as("head"), functions.col("a.token").as("token"),
                functions.col("a.count").as("count_a"), functions.col("b.count").as("count_b"),
                functions.col("a.mean").as("mean_a"), functions.col("b.mean").as("mean_b"),
                welchOf.apply(functions.col("a.count"), functions.col("a.mean"),
                        functions.col("a.std"), functions.col("b.count"), functions.col("b.mean"),
                        functions.col("b.std")).as("w"));
        Dataset<Row> ranked = rows.withColumn("rank", functions.row_number().over(Window.partitionBy(
                Keys.Slice.COLUMN, "value_a", "value_b", "metric", "unit", "target").orderBy(
                        functions.abs(functions.col("w.difference")).desc(), functions.col("token"))))
                .filter(functions.col("rank").leq(TOP_TOKENS));
        return ranked.select(functions.col(Keys.Slice.COLUMN), functions.col("value_a"), functions.col("value_b"),
                functions.col("kind"), functions.col("metric"), functions.col("unit"), functions.col("target"),
                functions.col("layer"), functions.col("head"), functions.col("token"), functions.col("count_a"),
                functions.col("count_b"), functions.col("mean_a"), functions.col("mean_b"),
                functions.col("w.difference").as("difference"), functions.col("w.ci_low").as("ci_low"),
                functions.col("w.ci_high").as("ci_high"), functions.col("w.df").as("df"),
                functions.col("w.cohens_d").as("cohens_d"));
    }
}
