package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.functions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Two runs' tables equal row for row, for runs too large to collect (scripts/scale-bench's 1M-row run and the same
 * run killed halfway and resumed): each row as JSON (shortest exact float forms, so equal JSON is equal values bit
 * for bit), compared by Spark as multisets. {@code mvn test -Dtest=TablesEqualCheck -Datlas.expected=RUN
 * -Datlas.actual=RUN}; skipped otherwise.
 */
@EnabledIfSystemProperty(named = "atlas.expected", matches = ".+")
class TablesEqualCheck {

    @Test
    void theTwoRunsHaveEqualTables() {
        SparkSession spark = SparkSession.builder().master("local[2]").appName("tables-equal")
                .config("spark.ui.enabled", "false").getOrCreate();
        try {
            for (String table : JobRuns.TABLES) {
                Dataset<Row> a = rows(spark, System.getProperty("atlas.expected"), table);
                Dataset<Row> b = rows(spark, System.getProperty("atlas.actual"), table);
                long count = a.count();
                assertEquals(count, b.count(), table + ": row count");
                assertTrue(a.exceptAll(b).isEmpty() && b.exceptAll(a).isEmpty(), table + ": rows differ");
                System.out.println("tables equal: " + table + ", " + count + " rows");
            }
        } finally {
            spark.stop();
        }
    }

    private static Dataset<Row> rows(SparkSession spark, String run, String table) {
        Dataset<Row> t = spark.read().parquet(Path.of(run).resolve(table).toString());
        return t.select(functions.to_json(functions.struct(t.col("*"))).as("row"));
    }
}
