package io.attributionatlas.job;

import io.attributionatlas.analysis.MethodAgreement;
import io.attributionatlas.analysis.TextWords;
import io.attributionatlas.schema.Keys;
import io.attributionatlas.schema.Metrics;
import io.attributionatlas.schema.Table;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.expressions.Window;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;

/**
 * Two runs of the same corpus compared (atlas compare): per sample (joined on id) both predictions, a flip flag,
 * the change of confidence and the agreement of the two models' word attributions; the shift of every head
 * metric; the words whose importance rank shifted most. Runs over different inputs (input fingerprints differ) or
 * with no common samples are refused, naming the reason.
 */
public final class RunComparison {

    public static final String SAMPLES = "compare_samples";
    public static final String HEADS = "compare_heads";
    public static final String TOKENS = "compare_tokens";
    /** Words kept per method, unit and target in compare_tokens. */
    static final int TOP_TOKENS = 50;
    /** A word's importance is ranked among the words seen at least this often in the run. */
    static final int MIN_COUNT = 3;
    /** The top-k of the word-attribution overlap. */
    private static final int OVERLAP_K = 5;
    private static final int SPEARMAN = 0;
    private static final int TOP5_OVERLAP = 4;


    /** The counts of a comparison. */
    public record Result(long common, long onlyA, long onlyB, long flips, String matchedBy) {
    }

    private RunComparison() {
    }

    /** Compares run {@code a} with run {@code b} (b − a), writing the three tables under {@code out}. */
    public static Result compare(SparkSession spark, String a, String b, String out) {
        Row ma = manifest(spark, a);
        Row mb = manifest(spark, b);
        String fa = ma.getAs("input_fingerprint");
        String fb = mb.getAs("input_fingerprint");
        if (!fa.equals(fb)) {
            throw new IllegalArgumentException("runs over different inputs: the input fingerprints differ (" + a + ": "
                    + fa + ", " + b + ": " + fb + ")");
        }
        Dataset<Row> sa = samples(spark, a);
        Dataset<Row> sb = samples(spark, b);
        Dataset<Row> joined = sa.as("a").join(sb.as("b"), "id");
        long common = joined.count();
        if (common == 0) {
            throw new IllegalArgumentException("no common samples: no sample id of " + a + " is in " + b);
        }
        JavaRDD<Row> rows = joined.javaRDD().map(RunComparison::sampleRow);
        Dataset<Row> compared = spark.createDataFrame(rows, Tables.COMPARE_SAMPLES_SCHEMA).orderBy(functions.col("flip").desc(),
                functions.abs(functions.col("delta_confidence")).desc(), functions.col("id"));
        write(compared, out, SAMPLES);
        long flips = spark.read().parquet(out + "/" + SAMPLES).filter("flip").count();
        HeadShift heads = heads(spark, a, b);
        write(heads.rows(), out, HEADS);
        write(tokens(spark, a, b), out, TOKENS);
        return new Result(common, sa.count() - common, sb.count() - common, flips, heads.matchedBy());
    }

    private static Row manifest(SparkSession spark, String run) {
        try {
            return spark.read().parquet(run + "/" + Table.MANIFEST.tableName()).first();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException(run + " is not a completed Attribution Atlas run (no manifest table)");
        }
    }

    /** The columns {@link #sampleRow} reads of each run, in this order after the id. */
    private static final String[] SIDE = {"text", "text_pair", "label", "prediction", "prediction_index",
        "probabilities", "tokens", "word_ids", "attribution"};

    private static Dataset<Row> samples(SparkSession spark, String run) {
        return spark.read().parquet(run + "/" + Table.SAMPLES.tableName()).select(functions.col("id"),
                functions.col("text"), functions.col("text_pair"), functions.col("label"), functions.col("prediction"),
                functions.col("prediction_index"), functions.col("probabilities"), functions.col("tokens"),
                functions.col("word_ids"),
                functions.expr("coalesce(targets[0].token_attributions, targets[0].grad_x_input)").as("attribution"));
    }

    /** Index of a run's column in the joined row: the id, then a's {@link #SIDE} columns, then b's. */
    private static int at(int side, String column) {
        return 1 + side * SIDE.length + Arrays.asList(SIDE).indexOf(column);
    }

    private static Row sampleRow(Row r) {
        String predictionA = r.getString(at(0, "prediction"));
        String predictionB = r.getString(at(1, "prediction"));
        Double confidenceA = confidence(r, 0);
        Double confidenceB = confidence(r, 1);
        // The same tokenizer words in both runs, or else the text's whitespace words (another tokenizer).
        boolean sameWords = java.util.Objects.equals(r.get(at(0, "tokens")), r.get(at(1, "tokens")));
        double[] wordsA = sameWords ? words(r, 0) : textWords(r, 0);
        double[] wordsB = sameWords ? words(r, 1) : textWords(r, 1);
        Integer words = null;
        Double spearman = null;
        Double overlap = null;
        if (wordsA != null && wordsB != null && wordsA.length == wordsB.length) {
            // only the words both runs scored (a tokenizer word not found in the text, a truncated tail: NaN)
            int n = 0;
            for (int w = 0; w < wordsA.length; w++) {
                if (!Double.isNaN(wordsA[w]) && !Double.isNaN(wordsB[w])) {
                    wordsA[n] = wordsA[w];
                    wordsB[n++] = wordsB[w];
                }
            }
            if (n > 0) {
                double[] m = MethodAgreement.compare(MethodAgreement.rank(Arrays.copyOf(wordsA, n)),
                        MethodAgreement.rank(Arrays.copyOf(wordsB, n)));
                words = n;
                spearman = Double.isNaN(m[SPEARMAN]) ? null : m[SPEARMAN];
                overlap = m[TOP5_OVERLAP];
            }
        }
        return NamedRow.of(Tables.COMPARE_SAMPLES_SCHEMA).set("id", r.getString(0))
                .set("text", r.getString(at(0, "text"))).set("label", r.getString(at(0, "label")))
                .set("prediction_a", predictionA).set("prediction_b", predictionB)
                .set("flip", !java.util.Objects.equals(predictionA, predictionB)).set("confidence_a", confidenceA)
                .set("confidence_b", confidenceB).set("delta_confidence", confidenceA == null || confidenceB == null
                        ? null : confidenceB - confidenceA)
                .set("words", words).set("word_unit", words == null ? null : sameWords ? Metrics.UNIT_WORD
                        : UNIT_TEXT_WORD)
                .set("spearman", spearman).set("top5_overlap", overlap).row();
    }

    /** compare_samples' word_unit where the runs' tokenizers differ: the text's whitespace-separated words. */
    static final String UNIT_TEXT_WORD = "text_word";

    /** The probability of the predicted class; null for a model without class probabilities. */
    private static Double confidence(Row r, int side) {
        int index = at(side, "prediction_index");
        int probabilities = at(side, "probabilities");
        if (r.isNullAt(index) || r.isNullAt(probabilities)) {
            return null;
        }
        List<Float> p = r.getList(probabilities);
        int i = r.getInt(index);
        return i >= 0 && i < p.size() ? (double) p.get(i) : null;
    }

    /** Word attributions: the token attributions summed over each word's pieces (special tokens have no word). */
    private static double[] words(Row r, int side) {
        int wordIds = at(side, "word_ids");
        int attribution = at(side, "attribution");
        if (r.isNullAt(wordIds) || r.isNullAt(attribution)) {
            return null;
        }
        List<Integer> ids = r.getList(wordIds);
        List<Float> scores = r.getList(attribution);
        int n = ids.stream().mapToInt(Integer::intValue).max().orElse(-1) + 1;
        double[] out = new double[n];
        for (int i = 0; i < ids.size() && i < scores.size(); i++) {
            if (ids.get(i) >= 0) {
                out[ids.get(i)] += scores.get(i);
            }
        }
        return out;
    }

    /**
     * Attributions of the text's whitespace words (TextWords): the tokenizer words' scores summed into the text word
     * that holds them; NaN for a text word that holds none of them (truncated, or its surface not found).
     */
    private static double[] textWords(Row r, int side) {
        double[] byWord = words(r, side);
        if (byWord == null || r.isNullAt(at(side, "tokens"))) {
            return null;
        }
        String text = r.getString(at(side, "text"));
        String pair = r.getString(at(side, "text_pair"));
        int[] placed = TextWords.place(text, pair, r.getList(at(side, "tokens")), r.getList(at(side, "word_ids")));
        double[] out = new double[TextWords.count(text, pair)];
        Arrays.fill(out, Double.NaN);
        for (int w = 0; w < placed.length && w < byWord.length; w++) {
            if (placed[w] >= 0 && placed[w] < out.length) {
                out[placed[w]] = (Double.isNaN(out[placed[w]]) ? 0 : out[placed[w]]) + byWord[w];
            }
        }
        return out;
    }

    /** compare_heads and how its layers were matched. */
    private record HeadShift(Dataset<Row> rows, String matchedBy) {
    }

    /**
     * The shift (b − a) of every head metric's corpus mean: by layer and head when both models have that layer
     * and head; otherwise by relative depth (a's layer l against b's layer round(l · (L_b − 1) / (L_a − 1))), over
     * each layer's heads averaged.
     */
    private static HeadShift heads(SparkSession spark, String a, String b) {
        Dataset<Row> ha = wholeCorpus(spark.read().parquet(a + "/" + Table.HEAD_STATS.tableName()));
        Dataset<Row> hb = wholeCorpus(spark.read().parquet(b + "/" + Table.HEAD_STATS.tableName()));
        Row shapeA = ha.agg(functions.max("layer"), functions.max("head")).first();
        Row shapeB = hb.agg(functions.max("layer"), functions.max("head")).first();
        if (shapeA.isNullAt(0) || shapeB.isNullAt(0)) {
            throw new IllegalArgumentException("a run has no head statistics to compare");
        }
        int layersA = shapeA.getInt(0) + 1;
        int layersB = shapeB.getInt(0) + 1;
        boolean same = layersA == layersB && shapeA.getInt(1) == shapeB.getInt(1);
        if (same) {
            Dataset<Row> rows = ha.as("a").join(hb.as("b"), functions.expr("a.layer = b.layer AND a.head = b.head "
                    + "AND a.metric = b.metric")).select(functions.col("a.metric").as("metric"),
                            functions.col("a.layer").as("layer"), functions.col("a.head").as("head"),
                            functions.col("b.layer").as("layer_b"), functions.col("a.mean").as("mean_a"),
                            functions.col("b.mean").as("mean_b"),
                            functions.col("b.mean").minus(functions.col("a.mean")).as("shift"),
                            functions.lit("layer_and_head").as("matched_by"))
                    .orderBy("metric", "layer", "head");
            return new HeadShift(rows, "layer_and_head");
        }
        String depth = layersA == 1 ? "0" : "CAST(round(a.layer * " + (layersB - 1) + " / " + (layersA - 1)
                + ".0) AS INT)";
        Dataset<Row> la = ha.groupBy("metric", "layer").agg(functions.avg("mean").as("mean"));
        Dataset<Row> lb = hb.groupBy("metric", "layer").agg(functions.avg("mean").as("mean"));
        Dataset<Row> rows = la.as("a").join(lb.as("b"), functions.expr("a.metric = b.metric AND b.layer = " + depth))
                .select(functions.col("a.metric").as("metric"), functions.col("a.layer").as("layer"),
                        functions.lit(null).cast(DataTypes.IntegerType).as("head"),
                        functions.col("b.layer").as("layer_b"), functions.col("a.mean").as("mean_a"),
                        functions.col("b.mean").as("mean_b"),
                        functions.col("b.mean").minus(functions.col("a.mean")).as("shift"),
                        functions.lit("relative_depth").as("matched_by"))
                .orderBy("metric", "layer");
        return new HeadShift(rows, "relative_depth");
    }

    /** An aggregate table's whole-corpus rows (runs before slices have no slice column). */
    private static Dataset<Row> wholeCorpus(Dataset<Row> table) {
        return Arrays.asList(table.columns()).contains(Keys.Slice.VALUE_COLUMN)
                ? table.filter(functions.col(Keys.Slice.COLUMN).equalTo(Keys.Slice.ALL)) : table;
    }

    /**
     * The words (or, where a run has no word scores, word pieces) whose importance rank shifted most: per method
     * and target both runs have, each run ranks its words seen at least {@value #MIN_COUNT} times by mean
     * attribution (1 = most important); rows are the words ranked in both, by |rank_b − rank_a|.
     */
    private static Dataset<Row> tokens(SparkSession spark, String a, String b) {
        Dataset<Row> ta = ranked(wholeCorpus(spark.read().parquet(a + "/" + Table.TOKEN_IMPORTANCE.tableName())));
        Dataset<Row> tb = ranked(wholeCorpus(spark.read().parquet(b + "/" + Table.TOKEN_IMPORTANCE.tableName())));
        Dataset<Row> joined = ta.as("a").join(tb.as("b"), functions.expr("a.method = b.method AND a.unit = b.unit "
                + "AND a.target = b.target AND a.word_key = b.word_key"));
        Dataset<Row> rows = joined.select(functions.col("a.method").as("method"), functions.col("a.unit").as("unit"),
                functions.col("a.target").as("target"), functions.col("a.token").as("token"),
                functions.col("a.mean").as("mean_a"), functions.col("b.mean").as("mean_b"),
                functions.col("a.rank").as("rank_a"), functions.col("b.rank").as("rank_b"),
                functions.col("b.rank").minus(functions.col("a.rank")).as("rank_shift"));
        return rows.withColumn("position", functions.row_number().over(Window.partitionBy("method", "unit",
                "target").orderBy(functions.abs(functions.col("rank_shift")).desc(), functions.col("token"))))
                .filter(functions.col("position").leq(TOP_TOKENS)).drop("position")
                .orderBy(functions.col("method"), functions.col("unit"), functions.col("target"),
                        functions.abs(functions.col("rank_shift")).desc(), functions.col("token"));
    }

    /** A run's word rows (word pieces where the method has no words), ranked per method and target by mean. */
    private static Dataset<Row> ranked(Dataset<Row> tokenImportance) {
        Dataset<Row> frequent = tokenImportance.filter(functions.col("count").geq(MIN_COUNT));
        Dataset<Row> units = frequent.groupBy("method").agg(functions.max(functions.when(functions.col("unit")
                .equalTo(Metrics.UNIT_WORD), 1).otherwise(0)).as("has_words"));
        return frequent.join(units, "method").filter(functions.expr("unit = CASE WHEN has_words = 1 THEN '"
                + Metrics.UNIT_WORD + "' ELSE '" + Metrics.UNIT_WORD_PIECE + "' END"))
                .withColumn("rank", functions.row_number().over(Window.partitionBy("method", "unit", "target")
                        .orderBy(functions.col("mean").desc(), functions.col("token"))))
                .withColumn("word_key", functions.when(functions.col("unit").equalTo(Metrics.UNIT_WORD),
                        WORD_KEY.apply(functions.col("token"))).otherwise(functions.col("token")));
    }

    /**
     * Words are joined across runs by their text without case, accents or byte-level encoding, so that the words of
     * another tokenizer (cased against uncased, byte-level BPE against WordPiece) meet; word pieces as they are.
     */
    private static final org.apache.spark.sql.expressions.UserDefinedFunction WORD_KEY = functions.udf(
            (org.apache.spark.sql.api.java.UDF1<String, String>) TextWords::key, DataTypes.StringType);

    private static void write(Dataset<Row> rows, String out, String table) {
        rows.coalesce(1).write().mode(SaveMode.Overwrite).parquet(out + "/" + table);
    }
}
