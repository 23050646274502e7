package io.attributionatlas.schema;

/**
 * Values the tables' key columns take and that more than one place reads or writes: token units, correlation
 * kinds, faithfulness metrics and head metrics. One spelling each, for the statistics, the job, the summary and
 * the report (whose SQL concatenates them).
 */
public final class Metrics {

    private Metrics() {
    }

    /** token_importance.unit and method_agreement.unit: scores per word piece (token). */
    public static final String UNIT_WORD_PIECE = "word_piece";
    /** token_importance.unit and method_agreement.unit: scores per word. */
    public static final String UNIT_WORD = "word";

    /** layer_correlations.kind: conductance of layer a vs layer b, per token. */
    public static final String LAYER_CONDUCTANCE = "layer_conductance";
    /** layer_correlations.kind: a head's attention vs its attention conductance, per token pair. */
    public static final String HEAD_ATTENTION_VS_CONDUCTANCE = "head_attention_vs_conductance";

    /** faithfulness.metric values and its k for the area over the perturbation curve. */
    public static final String COMPREHENSIVENESS = "comprehensiveness";
    public static final String SUFFICIENCY = "sufficiency";
    public static final String AOPC = "aopc";

    /** head_stats.metric: |∂F/∂ξ| of the head gate. */
    public static final String HEAD_IMPORTANCE = "head_importance";
    /** head_stats.metric: attention to [SEP] (the other special tokens). */
    public static final String ATTN_SEP = "attn_sep";

    /** The method whose token scores are shown first when a run has several (integrated gradients). */
    public static final String PREFERRED_TOKEN_METHOD = "integrated_gradients";
}
