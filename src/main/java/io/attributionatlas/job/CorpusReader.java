package io.attributionatlas.job;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
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
 * label and the raw row as JSON (for the errors table). Columns are named by the configuration; a
 * missing text, text-pair or label column is an error naming the column and the columns found.
 */
final class CorpusReader {

    static final StructType SCHEMA = new StructType()
            .add("row_index", DataTypes.LongType, false)
            .add("id", DataTypes.StringType, true)
            .add("text", DataTypes.StringType, true)
            .add("text_pair", DataTypes.StringType, true)
            .add("label", DataTypes.StringType, true)
            .add("raw", DataTypes.StringType, true);

    private CorpusReader() {
    }

    static Dataset<Row> read(SparkSession spark, JobConfig config) {
        String path = config.required("input.path");
        String format = format(spark, config.get("input.format"), path);
        if (format.equals("squad")) {
            return spark.createDataFrame(squadRows(spark, path), SCHEMA);
        }
        Dataset<Row> df = switch (format) {
            case "parquet" -> spark.read().parquet(path);
            case "jsonl" -> spark.read().json(path);
            case "csv", "tsv" -> spark.read().option("header", config.bool("input.header"))
                    .option("multiLine", true).option("escape", "\"").option("sep", format.equals("tsv") ? "\t" : ",")
                    .csv(path);
            default -> throw new IllegalArgumentException("input.format: expected auto, parquet, jsonl, csv, tsv or "
                    + "squad, got '" + format + "'");
        };
        List<String> columns = Arrays.asList(df.columns());
        String text = column(config, "input.text_column", columns, true);
        String pair = column(config, "input.text_pair_column", columns, false);
        String label = column(config, "input.label_column", columns, false);
        String idName = config.optional("input.id_column");
        String id = idName != null && columns.contains(idName) ? idName : null;
        Column raw = functions.to_json(functions.struct(columns.stream().map(c -> df.col("`" + c + "`"))
                .toArray(Column[]::new)));
        Dataset<Row> selected = df.select(raw.as("raw"), string(df, id).as("id"), string(df, text).as("text"),
                string(df, pair).as("text_pair"), string(df, label).as("label"));
        JavaRDD<Row> indexed = selected.javaRDD().zipWithIndex().map(t -> RowFactory.create(t._2(),
                id(t._1().getString(1), t._2()), t._1().getString(2), t._1().getString(3), t._1().getString(4),
                t._1().getString(0)));
        return spark.createDataFrame(indexed, SCHEMA);
    }

    /** The row's id, or "row-<index>" (0-based input index) when it has none: deterministic for the same input. */
    static String id(String id, long index) {
        return id == null || id.isBlank() ? "row-" + index : id;
    }

    private static Column string(Dataset<Row> df, String column) {
        return column == null ? functions.lit(null).cast(DataTypes.StringType)
                : df.col("`" + column + "`").cast(DataTypes.StringType);
    }

    private static String column(JobConfig config, String key, List<String> columns, boolean required) {
        String name = required ? config.required(key) : config.optional(key);
        if (name != null && !columns.contains(name)) {
            throw new IllegalArgumentException("input: column '" + name + "' (" + key + ") not found; the input has "
                    + "columns " + columns);
        }
        return name;
    }

    /** The configured format, or for auto the one the path's extension (or first data file) names. */
    static String format(SparkSession spark, String configured, String path) {
        if (!configured.equals("auto")) {
            return configured;
        }
        String name = firstDataFile(spark, path).toLowerCase(Locale.ROOT);
        if (name.endsWith(".parquet")) {
            return "parquet";
        }
        if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) {
            return "jsonl";
        }
        if (name.endsWith(".csv")) {
            return "csv";
        }
        if (name.endsWith(".tsv")) {
            return "tsv";
        }
        if (name.endsWith(".json")) {
            return looksLikeSquad(spark, path) ? "squad" : "jsonl";
        }
        throw new IllegalArgumentException("input.path " + path + ": cannot tell the format from '" + name
                + "'; set input.format (parquet, jsonl, csv, tsv or squad)");
    }

    private static String firstDataFile(SparkSession spark, String path) {
        try {
            Path p = new Path(path);
            FileSystem fs = p.getFileSystem(spark.sparkContext().hadoopConfiguration());
            if (!fs.exists(p)) {
                throw new IllegalArgumentException("input.path " + path + ": not found");
            }
            if (!fs.getFileStatus(p).isDirectory()) {
                return p.getName();
            }
            for (FileStatus f : fs.listStatus(p)) {
                String n = f.getPath().getName();
                if (f.isFile() && !n.startsWith("_") && !n.startsWith(".")) {
                    return n;
                }
            }
            throw new IllegalArgumentException("input.path " + path + ": an empty folder");
        } catch (IOException e) {
            throw new IllegalArgumentException("input.path " + path + ": " + e.getMessage());
        }
    }

    private static boolean looksLikeSquad(SparkSession spark, String path) {
        String head = readText(spark, path, 4096).stripLeading();
        return head.startsWith("{") && head.contains("\"data\"") && !head.contains("}\n{");
    }

    private static String readText(SparkSession spark, String path, int limit) {
        Path p = new Path(path);
        try (InputStream in = p.getFileSystem(spark.sparkContext().hadoopConfiguration()).open(p)) {
            byte[] bytes = limit > 0 ? in.readNBytes(limit) : in.readAllBytes();
            return new String(bytes, StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new IllegalArgumentException("input.path " + path + ": " + e.getMessage());
        }
    }

    /** SQuAD JSON: one pair sample per question (text = question, text_pair = context), id = question id. */
    private static List<Row> squadRows(SparkSession spark, String path) {
        JsonObject root;
        try {
            root = JsonParser.parseString(readText(spark, path, -1)).getAsJsonObject();
        } catch (RuntimeException e) {
            throw new IllegalArgumentException("input.path " + path + ": not SQuAD JSON (" + e.getMessage() + ")");
        }
        if (!root.has("data") || !root.get("data").isJsonArray()) {
            throw new IllegalArgumentException("input.path " + path + ": not SQuAD JSON (no \"data\" array)");
        }
        List<Row> rows = new ArrayList<>();
        for (JsonElement article : root.getAsJsonArray("data")) {
            for (JsonElement paragraph : article.getAsJsonObject().getAsJsonArray("paragraphs")) {
                JsonObject par = paragraph.getAsJsonObject();
                String context = par.has("context") ? par.get("context").getAsString() : null;
                for (JsonElement qa : par.getAsJsonArray("qas")) {
                    JsonObject q = qa.getAsJsonObject();
                    String question = q.has("question") && !q.get("question").isJsonNull()
                            ? q.get("question").getAsString() : null;
                    String id = q.has("id") && !q.get("id").isJsonNull() ? q.get("id").getAsString() : null;
                    long index = rows.size();
                    rows.add(RowFactory.create(index, id(id, index), question, context, null, q.toString()));
                }
            }
        }
        return rows;
    }
}
