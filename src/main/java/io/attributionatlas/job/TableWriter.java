package io.attributionatlas.job;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SaveMode;
import org.apache.spark.sql.SparkSession;

/**
 * Writes every table into the run's staging folder ({@code _staging-<run id>/<table>}, each through Spark's
 * commit protocol), and only when all are written replaces the previous tables, one folder rename each,
 * manifest last. A killed run leaves a staging folder (resumable, see {@link RunLedger}), never a table
 * that looks complete. A committed run removes its staging folder and those of earlier unfinished runs,
 * which its tables supersede.
 */
final class TableWriter {

    private final SparkSession spark;
    private final Path output;
    private final Path staging;
    private final FileSystem fs;
    private final List<String> written = new ArrayList<>();

    TableWriter(SparkSession spark, String output, Path staging) {
        this.spark = spark;
        this.output = new Path(output);
        this.staging = staging;
        try {
            this.fs = this.output.getFileSystem(spark.sparkContext().hadoopConfiguration());
        } catch (IOException e) {
            throw new IllegalStateException("cannot open output " + output + ": " + e.getMessage(), e);
        }
    }

    void write(String table, Dataset<Row> rows) {
        rows.write().mode(SaveMode.Overwrite).parquet(new Path(staging, table).toString());
        written.add(table);
    }

    /** A table written into the staging folder, read back. */
    Dataset<Row> staged(String table) {
        return spark.read().parquet(new Path(staging, table).toString());
    }

    /** Replaces the previous tables with the staged ones; the manifest (written last) moves last. */
    void commit() {
        try {
            List<String> order = new ArrayList<>(written);
            if (order.remove(Tables.MANIFEST)) {
                order.add(Tables.MANIFEST);
            }
            Path oldManifest = new Path(output, Tables.MANIFEST);
            if (fs.exists(oldManifest)) {
                fs.delete(oldManifest, true); // the old run is no longer complete from here on
            }
            for (String table : order) {
                Path target = new Path(output, table);
                if (fs.exists(target)) {
                    fs.delete(target, true);
                }
                if (!fs.rename(new Path(staging, table), target)) {
                    throw new IOException("rename of " + table + " into " + output + " failed");
                }
            }
            for (var status : fs.listStatus(output)) {
                if (status.getPath().getName().startsWith(RunLedger.STAGING_PREFIX)) {
                    fs.delete(status.getPath(), true);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot commit tables to " + output + ": " + e.getMessage(), e);
        }
    }
}
