package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import java.io.Serializable;
import org.apache.spark.sql.Row;

/** One output of a task: a row of one of the per-sample tables, or the partition's statistics. */
record JobRecord(String table, Row row, CorpusStatistics statistics) implements Serializable {

    static JobRecord row(String table, Row row) {
        return new JobRecord(table, row, null);
    }

    static JobRecord statistics(CorpusStatistics statistics) {
        return new JobRecord(null, null, statistics);
    }
}
