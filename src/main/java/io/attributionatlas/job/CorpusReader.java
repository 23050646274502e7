package io.attributionatlas.job;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.apache.hadoop.fs.Path;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Reads the corpus into rows of {@link #SCHEMA}: the input's 0-based row index, id (see {@link #id}), text, text pair,
 * label, the raw row as JSON (for the errors table) and, for an input line that could not be parsed, why
 * (its raw text is then the line itself). Columns are named by the configuration; a missing text,
 * text-pair or label column is an error naming the column and the columns found.
 */
final class CorpusReader {

    static final StructType SCHEMA = new StructType()
            .add("row_index", DataTypes.LongType, false)
            .add("id", DataTypes.StringType, true)
            .add("text", DataTypes.StringType, true)
            .add("text_pair", DataTypes.StringType, true)
            .add("label", DataTypes.StringType, true)
            .add("raw", DataTypes.StringType, true)
            .add("malformed", DataTypes.StringType, true)
            .add("cut", DataTypes.BooleanType, false);

    /** Spark's column for a JSON line it cannot parse (PERMISSIVE mode): the raw line. */
    private static final String CORRUPT_RECORD = "_corrupt_record";
    /** {@code input.label_column} default: the column {@code label} when the input has one. */
    static final String LABEL_AUTO = "auto";
    private static final String LABEL_NONE = "none";

    private CorpusReader() {
    }

    /** The corpus with every text whole (no model to cut for). */
    static Dataset<Row> read(SparkSession spark, JobConfig config) {
        return read(spark, config, Long.MAX_VALUE);
    }

    /**
     * The corpus, each text and text pair longer than {@code textChars} characters cut at the first space after
     * them ({@link io.attributionatlas.model.TextTokenizer#cutAtSpace}) as it is read, and the row marked {@code cut}:
     * a giant row then costs what the model's length costs in every later step.
     */
    static Dataset<Row> read(SparkSession spark, JobConfig config, long textChars) {
        String path = config.required("input.path");
        String format = format(spark, config.get("input.format"), path);
        if (format.equals("squad")) {
            return spark.createDataFrame(squadRows(spark, path, RowChecks.of(config), textChars), SCHEMA);
        }
        Dataset<Row> df;
        try {
            df = switch (format) {
                case "parquet" -> spark.read().parquet(path);
                case "jsonl" -> spark.read().json(path);
                case "csv", "tsv" -> spark.read().option("header", config.bool("input.header"))
                        .option("multiLine", true).option("escape", "\"")
                        .option("sep", String.valueOf(config.separator(format))).csv(path);
                default -> throw new IllegalArgumentException("input.format: expected auto, parquet, jsonl, csv, tsv "
                        + "or squad, got '" + format + "'");
            };
        } catch (Exception e) { // Scala throws AnalysisException, a checked exception, undeclared
            if (!(e instanceof org.apache.spark.sql.AnalysisException)) {
                throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
            // e.g. keys or header names that differ only in case, which Spark's case-insensitive columns cannot tell
            // apart (found by HostileInputsTest: a mutated key "Text" beside "text")
            throw new IllegalArgumentException("input.path " + path + ": Spark cannot read it as " + format + " ("
                    + e.getMessage().lines().findFirst().orElse("") + ")" + (e.getMessage().contains("COLUMN_ALREADY")
                            ? "; column names must differ in more than case" : ""), e);
        }
        List<String> columns = Arrays.asList(df.columns());
        checkColumns(config, columns, "");
        String text = config.required("input.text_column");
        String pair = config.optional("input.text_pair_column");
        String label = labelColumn(config, columns);
        String idName = config.optional("input.id_column");
        String id = idName != null && columns.contains(idName) ? idName : null;
        List<String> values = columns.stream().filter(c -> !c.equals(CORRUPT_RECORD)).toList();
        int rawChars = config.integer("errors.raw_chars");
        // The raw row, for error rows (which keep errors.raw_chars of it) and column slices: each text value capped,
        // so a giant text is not copied into it.
        Column raw = functions.to_json(functions.struct(values.stream().map(c -> capped(df, c, rawChars))
                .toArray(Column[]::new)));
        Column corrupt = columns.contains(CORRUPT_RECORD) ? df.col(CORRUPT_RECORD)
                : functions.lit(null).cast(DataTypes.StringType);
        // The row's size: its values' UTF-8 bytes (a line Spark could not parse: the line's)
        Column bytes = functions.coalesce(functions.octet_length(corrupt), functions.lit(0));
        for (String c : values) {
            bytes = bytes.plus(functions.coalesce(functions.octet_length(column(df, c).cast(DataTypes.StringType)),
                    functions.lit(0)));
        }
        // cut in Spark's own expression: the UDF sees the text once; what follows sees the cut one
        org.apache.spark.sql.expressions.UserDefinedFunction cut = functions.udf(
                (org.apache.spark.sql.api.java.UDF1<String, String>) t -> io.attributionatlas.model.TextTokenizer
                        .cutAtSpace(t, textChars), DataTypes.StringType);
        Dataset<Row> read = df.select(raw.as("raw"), string(df, id).as("id"), string(df, text).as("whole_text"),
                string(df, pair).as("whole_pair"), string(df, label).as("label"), corrupt.as("corrupt"),
                bytes.cast(DataTypes.LongType).as("bytes"));
        Dataset<Row> cutTexts = read.withColumn("text", cut.apply(read.col("whole_text")))
                .withColumn("text_pair", cut.apply(read.col("whole_pair")));
        Column wasCut = functions.coalesce(functions.length(cutTexts.col("text"))
                .lt(functions.length(cutTexts.col("whole_text"))), functions.lit(false))
                .or(functions.coalesce(functions.length(cutTexts.col("text_pair"))
                        .lt(functions.length(cutTexts.col("whole_pair"))), functions.lit(false)));
        Dataset<Row> selected = cutTexts.select(cutTexts.col("raw"), cutTexts.col("id"), cutTexts.col("text"),
                cutTexts.col("text_pair"), cutTexts.col("label"), cutTexts.col("corrupt"), cutTexts.col("bytes"),
                wasCut.as("cut"));
        RowChecks checks = RowChecks.of(config);
        JavaRDD<Row> indexed = selected.javaRDD().zipWithIndex().map(t -> checked(t._1(), t._2(), checks));
        return spark.createDataFrame(indexed, SCHEMA);
    }

    /**
     * A row of {@link #SCHEMA} from a selected row (raw, id, text, pair, label, corrupt line, bytes): an error row
     * with the reason when the row is too big, binary, not UTF-8 or not a JSON object; a too-big row keeps only
     * the start of its raw form, so the error row costs what an error row costs.
     */
    private static Row checked(Row r, long index, RowChecks checks) {
        String line = r.getString(5);
        String oversize = checks.oversize(r.getLong(6));
        if (oversize != null) {
            String raw = line != null ? line : r.getString(0);
            return RowFactory.create(index, id(line != null ? null : r.getString(1), index), null, null, null,
                    raw.substring(0, Math.min(raw.length(), OVERSIZE_RAW_CHARS)), oversize, false);
        }
        if (line != null) {
            return RowFactory.create(index, id(null, index), null, null, null, line, RowChecks.malformedJsonLine(line),
                    false);
        }
        String reason = null;
        String[] names = {"id", "text", "text pair", "label"};
        for (int i = 0; i < names.length && reason == null; i++) {
            reason = checks.field(names[i], r.getString(i + 1));
        }
        return RowFactory.create(index, id(r.getString(1), index), r.getString(2), r.getString(3), r.getString(4),
                r.getString(0), reason, r.getBoolean(7));
    }

    /** The start of a too-big row's raw form that its error row keeps (errors.raw_chars trims it further). */
    private static final int OVERSIZE_RAW_CHARS = 4096;

    /** An input column by its name, whatever characters it holds (a backtick is doubled inside the quotes). */
    private static Column column(Dataset<Row> df, String name) {
        return df.col("`" + name.replace("`", "``") + "`");
    }

    /** A column as it goes into the raw row: a text longer than {@code chars} cut to its start and "…". */
    private static Column capped(Dataset<Row> df, String name, int chars) {
        Column c = column(df, name);
        if (!(df.schema().apply(name).dataType() instanceof org.apache.spark.sql.types.StringType)) {
            return c;
        }
        return functions.when(functions.length(c).gt(chars), functions.concat(functions.substring(c, 1, chars),
                functions.lit("…"))).otherwise(c).as(name);
    }

    /** The row's id, or "row-<index>" (0-based input index) when it has none: deterministic for the same input. */
    static String id(String id, long index) {
        return id == null || id.isBlank() ? "row-" + index : id;
    }

    private static Column string(Dataset<Row> df, String column) {
        return column == null ? functions.lit(null).cast(DataTypes.StringType)
                : column(df, column).cast(DataTypes.StringType);
    }

    /**
     * The configured text, text-pair and label columns and the columns of {@code column:} slices are among the
     * input's {@code columns} (seen {@code where}), else an error naming the column, its key and the columns found.
     */
    static void checkColumns(JobConfig config, List<String> columns, String where) {
        column(config, "input.text_column", columns, true, where);
        column(config, "input.text_pair_column", columns, false, where);
        String label = config.optional("input.label_column");
        if (label != null && !label.equals(LABEL_NONE) && !label.equals(LABEL_AUTO)) {
            column(config, "input.label_column", columns, false, where);
        }
        for (io.attributionatlas.analysis.Slices.Definition d : config.slices().definitions()) {
            if (d.kind() == io.attributionatlas.analysis.Slices.Kind.COLUMN && !columns.contains(d.column())) {
                throw new IllegalArgumentException("slices: column '" + d.column() + "' (" + d.name() + ") not "
                        + "found; the input has columns " + columns + where);
            }
        }
    }

    /** The label column: a name (which must exist), auto (label when present) or none. */
    private static String labelColumn(JobConfig config, List<String> columns) {
        String name = config.optional("input.label_column");
        if (name == null || name.equals(LABEL_NONE)) {
            return null;
        }
        if (name.equals(LABEL_AUTO)) {
            return columns.contains("label") ? "label" : null;
        }
        return name;
    }

    private static void column(JobConfig config, String key, List<String> columns, boolean required, String where) {
        String name = required ? config.required(key) : config.optional(key);
        if (name != null && !columns.contains(name)) {
            throw new IllegalArgumentException("input: column '" + name + "' (" + key + ") not found; the input has "
                    + "columns " + columns + where);
        }
    }

    /** The configured format, or for auto the one the path's extension (or first data file) names. */
    static String format(SparkSession spark, String configured, String path) {
        org.apache.hadoop.conf.Configuration hadoop = spark.sparkContext().hadoopConfiguration();
        return InputCheck.format(configured, InputCheck.firstDataFile(path, hadoop), hadoop, path);
    }

    private static String readText(SparkSession spark, String path) {
        return InputCheck.readText(new Path(path), spark.sparkContext().hadoopConfiguration(), path);
    }

    /** SQuAD JSON: one pair sample per question (text = question, text_pair = context), id = question id. */
    private static List<Row> squadRows(SparkSession spark, String path, RowChecks checks, long textChars) {
        List<Row> rows = new ArrayList<>();
        for (SquadCorpus.Question q : SquadCorpus.parse(readText(spark, path), path)) {
            long index = rows.size();
            String reason = checks.oversize(RowChecks.utf8Bytes(q.raw()) + RowChecks.utf8Bytes(q.context()));
            String[] names = {"id", "question", "context"};
            String[] values = {q.id(), q.question(), q.context()};
            for (int i = 0; i < names.length && reason == null; i++) {
                reason = checks.field(names[i], values[i]);
            }
            String question = io.attributionatlas.model.TextTokenizer.cutAtSpace(q.question(), textChars);
            String context = io.attributionatlas.model.TextTokenizer.cutAtSpace(q.context(), textChars);
            boolean cut = question != q.question() || context != q.context(); // cutAtSpace returns a whole text as is
            rows.add(RowFactory.create(index, id(q.id(), index), question, context, null, q.raw(), reason, cut));
        }
        return rows;
    }
}
