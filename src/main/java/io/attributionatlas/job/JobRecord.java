package io.attributionatlas.job;

import java.io.Serializable;
import org.apache.spark.sql.Row;

/** One row of one of the per-sample tables (samples, sample_matrices, errors), on its way to the ledger. */
record JobRecord(String table, Row row) implements Serializable {

    static JobRecord row(String table, Row row) {
        return new JobRecord(table, row);
    }
}
