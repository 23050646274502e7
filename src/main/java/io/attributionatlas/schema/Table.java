package io.attributionatlas.schema;

/**
 * The run's tables, one Parquet folder each under the output: the one place their names are spelled, for the job
 * that writes them, the summary that lists them and the report that reads them.
 */
public enum Table {
    SAMPLES,
    ERRORS,
    HEAD_STATS,
    HEAD_RELATIONS,
    LAYER_CORRELATIONS,
    HEAD_SIMILARITY,
    TOKEN_IMPORTANCE,
    METHOD_AGREEMENT,
    FAITHFULNESS,
    SLICE_CONTRASTS,
    SAMPLE_MATRICES,
    TOKEN_EMBEDDINGS,
    MANIFEST;

    /** Its folder under the run's output, and its SQL view name in the report and notebooks. */
    public String tableName() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
