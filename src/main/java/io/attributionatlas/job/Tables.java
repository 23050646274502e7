package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Correlation;
import io.attributionatlas.analysis.HeadRelations;
import io.attributionatlas.analysis.Moments;
import io.attributionatlas.analysis.Slices;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.schema.Keys;
import io.attributionatlas.schema.Metrics;
import io.attributionatlas.schema.Table;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.spark.sql.Column;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.functions;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import scala.collection.immutable.Seq;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The output tables: their schemas (the one place they are defined; README documents them) and the
 * conversion of engine results and corpus statistics into rows. Indices are 0-based.
 */
final class Tables {

    static final String SAMPLES = Table.SAMPLES.tableName();
    static final String SAMPLE_MATRICES = Table.SAMPLE_MATRICES.tableName();
    static final String TOKEN_EMBEDDINGS = Table.TOKEN_EMBEDDINGS.tableName();
    static final String ERRORS = Table.ERRORS.tableName();
    static final String HEAD_STATS = Table.HEAD_STATS.tableName();
    static final String HEAD_RELATIONS = Table.HEAD_RELATIONS.tableName();
    static final String LAYER_CORRELATIONS = Table.LAYER_CORRELATIONS.tableName();
    static final String HEAD_SIMILARITY = Table.HEAD_SIMILARITY.tableName();
    static final String TOKEN_IMPORTANCE = Table.TOKEN_IMPORTANCE.tableName();
    static final String MANIFEST = Table.MANIFEST.tableName();
    static final String METHOD_AGREEMENT = Table.METHOD_AGREEMENT.tableName();
    static final String FAITHFULNESS = Table.FAITHFULNESS.tableName();
    static final String SLICE_CONTRASTS = Table.SLICE_CONTRASTS.tableName();

    private static final DataType FLOATS = DataTypes.createArrayType(DataTypes.FloatType, false);
    private static final DataType FLOATS_2D = DataTypes.createArrayType(FLOATS, false);
    private static final DataType FLOATS_3D = DataTypes.createArrayType(FLOATS_2D, false);
    private static final DataType FLOATS_4D = DataTypes.createArrayType(FLOATS_3D, false);
    /** Per layer [H][S][S], null for a layer without the values (score offsets of a family's plain layers). */
    private static final DataType LAYERS_OR_NULL = DataTypes.createArrayType(FLOATS_3D, true);

    /**
     * One method's scores of one target: per word piece and per word, and the part of the score that belongs to no
     * token (DecompX with decompx_bias=separate; else null).
     */
    static final StructType METHOD_SCORES = new StructType()
            .add("token_scores", FLOATS)
            .add("word_scores", FLOATS)
            .add("bias_part", DataTypes.FloatType);

    static final StructType TARGET = new StructType()
            .add("name", DataTypes.StringType)
            .add("index", DataTypes.IntegerType)
            .add("label", DataTypes.StringType)
            .add("f_input", DataTypes.DoubleType)
            .add("f_baseline", DataTypes.DoubleType)
            .add("delta", DataTypes.DoubleType)
            .add("token_attributions", FLOATS)
            .add("token_attributions_norm", FLOATS)
            .add("grad_x_input", FLOATS)
            .add("layer_token_conductance", FLOATS_2D)
            .add("layer_total", DataTypes.createArrayType(DataTypes.DoubleType, false))
            .add("head_importance", FLOATS_2D)
            .add("methods", DataTypes.createMapType(DataTypes.StringType, METHOD_SCORES, false));

    static final StructType SAMPLES_SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("row_index", DataTypes.LongType, false)
            .add("text", DataTypes.StringType)
            .add("text_pair", DataTypes.StringType)
            .add("label", DataTypes.StringType)
            .add("input_ids", DataTypes.createArrayType(DataTypes.IntegerType, false))
            .add("tokens", DataTypes.createArrayType(DataTypes.StringType, false))
            .add("token_type_ids", DataTypes.createArrayType(DataTypes.IntegerType, false))
            .add("word_ids", DataTypes.createArrayType(DataTypes.IntegerType, false))
            .add("truncated", DataTypes.BooleanType)
            .add("flags", DataTypes.createArrayType(DataTypes.StringType, false))
            .add("prediction", DataTypes.StringType)
            .add("prediction_index", DataTypes.IntegerType)
            .add("logits", FLOATS)
            .add("probabilities", FLOATS)
            .add("answer_start", DataTypes.IntegerType)
            .add("answer_end", DataTypes.IntegerType)
            .add("targets", new ArrayType(TARGET, false));

    static final StructType MATRICES_SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("tokens", DataTypes.createArrayType(DataTypes.StringType, false))
            .add("attentions", FLOATS_4D)
            .add("attention_conductance", FLOATS_4D)
            .add("norm_alpha_fx", FLOATS_4D)
            .add("norm_sum_alpha_fx", FLOATS_3D)
            .add("rollout", FLOATS_2D)
            .add("attention_attribution", FLOATS_4D)
            .add("queries", FLOATS_4D)
            .add("keys", FLOATS_4D)
            .add("score_offsets", LAYERS_OR_NULL)
            .add("score_scale", DataTypes.FloatType)
            .add("decompositions", DataTypes.createMapType(DataTypes.StringType, FLOATS_3D, false));

    /** The schema of a per-sample table, the tables the ledger holds row by row. */
    static StructType ledgerSchema(String table) {
        if (table.equals(TOKEN_IMPORTANCE_PARTS)) {
            return TOKEN_IMPORTANCE_PARTS_SCHEMA;
        }
        return switch (Table.valueOf(table.toUpperCase(java.util.Locale.ROOT))) {
            case SAMPLES -> SAMPLES_SCHEMA;
            case ERRORS -> ERRORS_SCHEMA;
            case SAMPLE_MATRICES -> MATRICES_SCHEMA;
            case TOKEN_EMBEDDINGS -> TOKEN_EMBEDDINGS_SCHEMA;
            default -> throw new IllegalArgumentException(table + " is not a per-sample table");
        };
    }

    /** Tokens either side of an embedded token kept as its context. */
    static final int EMBEDDING_CONTEXT = 8;

    static final StructType TOKEN_EMBEDDINGS_SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("position", DataTypes.IntegerType, false)
            .add("layer", DataTypes.IntegerType, false)
            .add("token", DataTypes.StringType, false)
            .add("embedding", FLOATS, false)
            .add("context", DataTypes.createArrayType(DataTypes.StringType, false), false)
            .add("context_position", DataTypes.IntegerType, false)
            .add("attended_tokens", DataTypes.createArrayType(DataTypes.StringType, false));

    static final StructType ERRORS_SCHEMA = new StructType()
            .add("row_index", DataTypes.LongType, false)
            .add("id", DataTypes.StringType)
            .add("reason", DataTypes.StringType, false)
            .add("raw", DataTypes.StringType);

    static final StructType HEAD_STATS_SCHEMA = sliced(new StructType()
            .add("layer", DataTypes.IntegerType, false)
            .add("head", DataTypes.IntegerType, false)
            .add("metric", DataTypes.StringType, false)
            .add("count", DataTypes.LongType, false)
            .add("mean", DataTypes.DoubleType)
            .add("std", DataTypes.DoubleType)
            .add("min", DataTypes.DoubleType)
            .add("max", DataTypes.DoubleType));

    static final StructType HEAD_RELATIONS_SCHEMA = sliced(new StructType()
            .add("layer", DataTypes.IntegerType, false)
            .add("head", DataTypes.IntegerType, false)
            .add("rank", DataTypes.IntegerType, false)
            .add("source_token", DataTypes.StringType)
            .add("target_token", DataTypes.StringType)
            .add("relation", DataTypes.StringType)
            .add("count", DataTypes.LongType)
            .add("sum", DataTypes.DoubleType)
            .add("mean", DataTypes.DoubleType));

    static final StructType LAYER_CORRELATIONS_SCHEMA = sliced(new StructType()
            .add("kind", DataTypes.StringType, false)
            .add("a", DataTypes.IntegerType, false)
            .add("b", DataTypes.IntegerType, false)
            .add("pooled_r", DataTypes.DoubleType)
            .add("pooled_count", DataTypes.LongType)
            .add("sample_mean_r", DataTypes.DoubleType)
            .add("sample_count", DataTypes.LongType));

    static final StructType HEAD_SIMILARITY_SCHEMA = sliced(new StructType()
            .add("layer_a", DataTypes.IntegerType, false)
            .add("head_a", DataTypes.IntegerType, false)
            .add("layer_b", DataTypes.IntegerType, false)
            .add("head_b", DataTypes.IntegerType, false)
            .add("mean_js_distance", DataTypes.DoubleType)
            .add("samples", DataTypes.LongType));

    static final StructType TOKEN_IMPORTANCE_SCHEMA = sliced(new StructType()
            .add("token", DataTypes.StringType, false)
            .add("target", DataTypes.StringType, false)
            .add("method", DataTypes.StringType)
            .add("unit", DataTypes.StringType)
            .add("count", DataTypes.LongType)
            .add("mean", DataTypes.DoubleType)
            .add("mean_abs", DataTypes.DoubleType)
            .add("std", DataTypes.DoubleType));

    static final StructType METHOD_AGREEMENT_SCHEMA = sliced(new StructType()
            .add("method_a", DataTypes.StringType, false)
            .add("method_b", DataTypes.StringType, false)
            .add("target", DataTypes.StringType, false)
            .add("unit", DataTypes.StringType, false)
            .add("metric", DataTypes.StringType, false)
            .add("count", DataTypes.LongType)
            .add("mean", DataTypes.DoubleType)
            .add("std", DataTypes.DoubleType)
            .add("min", DataTypes.DoubleType)
            .add("max", DataTypes.DoubleType)
            .add("histogram", DataTypes.createArrayType(DataTypes.LongType, false)));

    /** slice_contrasts (job.SliceContrasts): a difference of means between two values of a slice. */
    static final StructType SLICE_CONTRASTS_SCHEMA = new StructType()
            .add(Keys.Slice.COLUMN, DataTypes.StringType, false)
            .add("value_a", DataTypes.StringType, false)
            .add("value_b", DataTypes.StringType, false)
            .add("kind", DataTypes.StringType, false)
            .add("metric", DataTypes.StringType, false)
            .add("unit", DataTypes.StringType)
            .add("target", DataTypes.StringType)
            .add("layer", DataTypes.IntegerType)
            .add("head", DataTypes.IntegerType)
            .add("token", DataTypes.StringType)
            .add("count_a", DataTypes.LongType, false)
            .add("count_b", DataTypes.LongType, false)
            .add("mean_a", DataTypes.DoubleType)
            .add("mean_b", DataTypes.DoubleType)
            .add("difference", DataTypes.DoubleType)
            .add("ci_low", DataTypes.DoubleType)
            .add("ci_high", DataTypes.DoubleType)
            .add("df", DataTypes.DoubleType)
            .add("cohens_d", DataTypes.DoubleType);

    /** compare_samples (job.RunComparison, atlas compare): one common sample of two runs. */
    static final StructType COMPARE_SAMPLES_SCHEMA = new StructType()
            .add("id", DataTypes.StringType, false)
            .add("text", DataTypes.StringType)
            .add("label", DataTypes.StringType)
            .add("prediction_a", DataTypes.StringType)
            .add("prediction_b", DataTypes.StringType)
            .add("flip", DataTypes.BooleanType, false)
            .add("confidence_a", DataTypes.DoubleType)
            .add("confidence_b", DataTypes.DoubleType)
            .add("delta_confidence", DataTypes.DoubleType)
            .add("words", DataTypes.IntegerType)
            .add("word_unit", DataTypes.StringType)
            .add("spearman", DataTypes.DoubleType)
            .add("top5_overlap", DataTypes.DoubleType);

    static final StructType FAITHFULNESS_SCHEMA = sliced(new StructType()
            .add("method", DataTypes.StringType, false)
            .add("target", DataTypes.StringType, false)
            .add("metric", DataTypes.StringType, false)
            .add("k", DataTypes.StringType, false)
            .add("count", DataTypes.LongType)
            .add("mean", DataTypes.DoubleType)
            .add("std", DataTypes.DoubleType));

    static final StructType MANIFEST_SCHEMA = new StructType()
            .add("run_id", DataTypes.StringType)
            .add("started", DataTypes.StringType)
            .add("finished", DataTypes.StringType)
            .add("model_path", DataTypes.StringType)
            .add("model_fingerprint", DataTypes.StringType)
            .add("input_fingerprint", DataTypes.StringType)
            .add("config_json", DataTypes.StringType)
            .add("versions_json", DataTypes.StringType)
            .add("input_rows", DataTypes.LongType)
            .add("samples", DataTypes.LongType)
            .add("errors", DataTypes.LongType)
            .add("tokens", DataTypes.LongType)
            .add("seconds", DataTypes.DoubleType)
            .add("samples_per_second", DataTypes.DoubleType)
            .add("engine_seconds", DataTypes.DoubleType)
            .add("statistics_seconds", DataTypes.DoubleType)
            .add("writing_seconds", DataTypes.DoubleType)
            .add("task_slots", DataTypes.IntegerType)
            .add("partitions", DataTypes.IntegerType)
            .add("partitions_reused", DataTypes.IntegerType)
            .add("executors_json", DataTypes.StringType)
            .add("task_attempts_json", DataTypes.StringType)
            .add("stage_seconds_json", DataTypes.StringType)
            .add("ledger_files", DataTypes.LongType)
            .add("ledger_bytes", DataTypes.LongType)
            .add("memory_json", DataTypes.StringType);

    private Tables() {
    }

    static Row sample(long rowIndex, String label, SampleAttribution s, List<String> flags) {
        EncodedText e = s.sample().encoding();
        Prediction p = s.prediction();
        List<Row> targets = new ArrayList<>();
        for (TargetAttribution t : s.targets()) {
            targets.add(NamedRow.of(TARGET).set("name", t.name()).set("index", t.index()).set("label", t.label())
                    .set("f_input", t.fInput()).set("f_baseline", t.fBaseline())
                    .set("delta", Double.isNaN(t.delta()) ? null : t.delta())
                    .set("token_attributions", boxed(t.igTokenSum()))
                    .set("token_attributions_norm", boxed(t.igTokenNorm()))
                    .set("grad_x_input", boxed(t.gradXInput())).set("layer_token_conductance", boxed(t.layerTokenSum()))
                    .set("layer_total", boxed(t.layerTotal())).set("head_importance", boxed(t.headImportance()))
                    .set("methods", methodScores(t)).row());
        }
        String prediction = p.label() != null ? p.label() : p.answer() != null ? p.answer().text() : null;
        return NamedRow.of(SAMPLES_SCHEMA).set("id", s.sample().input().id()).set("row_index", rowIndex)
                .set("text", s.sample().input().text()).set("text_pair", s.sample().input().textPair())
                .set("label", label).set("input_ids", ints(e.ids())).set("tokens", seq(List.of(e.tokens())))
                .set("token_type_ids", ints(e.typeIds())).set("word_ids", ints(e.words()))
                .set("truncated", e.truncated()).set("flags", seq(flags)).set("prediction", prediction)
                .set("prediction_index", p.logits() != null ? p.labelIndex() : null)
                .set("logits", boxed(p.logits())).set("probabilities", boxed(p.probabilities()))
                .set("answer_start", p.answer() != null ? p.answer().start() : null)
                .set("answer_end", p.answer() != null ? p.answer().end() : null).set("targets", seq(targets)).row();
    }

    /** Every method that ran for the target: name → (token scores, word scores); null without methods. */
    private static scala.collection.Map<Object, Object> methodScores(TargetAttribution t) {
        if (t.methods() == null || t.methods().isEmpty()) {
            return null;
        }
        Map<Object, Object> byName = new java.util.LinkedHashMap<>();
        t.methods().forEach((name, m) -> byName.put(name, NamedRow.of(METHOD_SCORES)
                .set("token_scores", boxed(m.tokenAttributions())).set("word_scores", boxed(m.wordAttributions()))
                .set("bias_part", m.biasPart()).row()));
        return scala.collection.immutable.Map$.MODULE$.from(CollectionConverters.asScala(byName));
    }

    static Row matrices(SampleAttribution s) {
        float[][][][] conductance = s.targets().isEmpty() ? null : s.targets().get(0).attentionConductance();
        // Per-head-pair scores of a method that has them (attention attribution), first target.
        io.attributionatlas.attribution.MethodScores attribution = s.targets().isEmpty()
                || s.targets().get(0).methods() == null ? null : s.targets().get(0).methods().values().stream()
                        .filter(m -> m.matrices() != null).findFirst().orElse(null);
        io.attributionatlas.attribution.QueryKeyVectors qk = s.queryKeys();
        return NamedRow.of(MATRICES_SCHEMA).set("id", s.sample().input().id())
                .set("tokens", seq(List.of(s.sample().encoding().tokens()))).set("attentions", boxed(s.attentions()))
                .set("attention_conductance", boxed(conductance)).set("norm_alpha_fx", boxed(s.normAlphaFx()))
                .set("norm_sum_alpha_fx", boxed(s.normSumAlphaFx())).set("rollout", boxed(s.rollout()))
                .set("attention_attribution", attribution == null ? null : boxed(attribution.matrices()))
                .set("queries", qk == null ? null : boxed(qk.queries())).set("keys", qk == null ? null : boxed(qk.keys()))
                .set("score_offsets", qk == null ? null : boxed(qk.scoreOffsets()))
                .set("score_scale", qk == null ? null : qk.scale())
                .set("decompositions", decompositions(s)).row();
    }

    /** The key of a method's per-layer part norms in sample_matrices.decompositions, after the method's name. */
    static final String PART_NORMS_SUFFIX = ".part_norms";

    /**
     * Per decomposition method (Value Zeroing, ALTI, DecompX), the first target's per-layer token-to-token
     * contributions [L][S][S], and under "decompx.part_norms" DecompX's per-layer ‖part‖₂; null where no method has
     * them.
     */
    private static scala.collection.immutable.Map<Object, Object> decompositions(SampleAttribution s) {
        if (s.targets().isEmpty() || s.targets().get(0).methods() == null) {
            return null;
        }
        Map<Object, Object> byName = new java.util.LinkedHashMap<>();
        s.targets().get(0).methods().forEach((name, m) -> {
            if (m.layerMatrices() != null) {
                byName.put(name, boxed(m.layerMatrices()));
            }
            if (m.partNorms() != null) {
                byName.put(name + PART_NORMS_SUFFIX, boxed(m.partNorms()));
            }
        });
        return byName.isEmpty() ? null : scala.collection.immutable.Map$.MODULE$.from(
                CollectionConverters.asScala(byName));
    }

    /**
     * A sample's token_embeddings rows: per layer and position, the vector, up to {@value #EMBEDDING_CONTEXT} tokens
     * either side as its context, and the token each head attends to most from it.
     */
    static List<Row> tokenEmbeddings(SampleAttribution s) {
        io.attributionatlas.attribution.TokenEmbeddings e = s.embeddings();
        if (e == null) {
            return List.of();
        }
        String[] tokens = s.sample().encoding().tokens();
        List<Row> rows = new ArrayList<>();
        for (int l = 0; l < e.layers().length; l++) {
            for (int p = 0; p < e.positions().length; p++) {
                int at = e.positions()[p];
                int from = Math.max(0, at - EMBEDDING_CONTEXT);
                List<Object> attended = null;
                if (e.attended() != null) {
                    attended = new ArrayList<>();
                    for (int key : e.attended()[l][p]) {
                        attended.add(tokens[key]);
                    }
                }
                rows.add(NamedRow.of(TOKEN_EMBEDDINGS_SCHEMA).set("id", s.sample().input().id()).set("position", at)
                        .set("layer", e.layers()[l]).set("token", tokens[at]).set("embedding", boxed(e.vectors()[l][p]))
                        .set("context", seq(List.of(java.util.Arrays.copyOfRange(tokens, from,
                                Math.min(tokens.length, at + EMBEDDING_CONTEXT + 1)))))
                        .set("context_position", at - from).set("attended_tokens", attended == null ? null
                                : seq(attended)).row());
            }
        }
        return rows;
    }

    static Row error(long rowIndex, String id, String reason, String raw, int rawChars) {
        String r = raw == null || raw.length() <= rawChars ? raw : raw.substring(0, rawChars) + "…";
        return NamedRow.of(ERRORS_SCHEMA).set("row_index", rowIndex).set("id", id).set("reason", reason)
                .set("raw", r).row();
    }

    static List<Row> headStats(CorpusStatistics stats, Keys.Slice slice) {
        List<Row> rows = new ArrayList<>();
        for (int l = 0; l < stats.layers(); l++) {
            for (int h = 0; h < stats.heads(); h++) {
                for (Map.Entry<String, Moments[]> m : stats.headStats().entrySet()) {
                    Moments mo = m.getValue()[l * stats.heads() + h];
                    rows.add(slicedRow(HEAD_STATS_SCHEMA, slice).set("layer", l).set("head", h).set("metric", m.getKey())
                            .set("count", mo.count()).set("mean", mo.mean()).set("std", mo.std())
                            .set("min", mo.min()).set("max", mo.max()).row());
                }
            }
        }
        return rows;
    }

    static List<Row> headRelations(CorpusStatistics stats, Keys.Slice slice, int topK) {
        List<Row> rows = new ArrayList<>();
        for (int l = 0; l < stats.layers(); l++) {
            for (int h = 0; h < stats.heads(); h++) {
                List<HeadRelations.Relation> top = stats.topRelations(l, h, topK);
                for (int k = 0; k < top.size(); k++) {
                    HeadRelations.Relation r = top.get(k);
                    rows.add(slicedRow(HEAD_RELATIONS_SCHEMA, slice).set("layer", l).set("head", h).set("rank", k)
                            .set("source_token", r.source()).set("target_token", r.target())
                            .set("relation", r.kind()).set("count", r.count()).set("sum", r.sum())
                            .set("mean", r.sum() / r.count()).row());
                }
            }
        }
        return rows;
    }

    static List<Row> layerCorrelations(CorpusStatistics stats, Keys.Slice slice) {
        List<Row> rows = new ArrayList<>();
        for (int a = 0; a < stats.layers(); a++) {
            for (int b = 0; b < stats.layers(); b++) {
                Correlation c = stats.layerCorrelation(a, b);
                if (c.count() > 0) {
                    rows.add(correlation(Metrics.LAYER_CONDUCTANCE, a, b, c, slice));
                }
            }
        }
        for (int l = 0; l < stats.layers(); l++) {
            for (int h = 0; h < stats.heads(); h++) {
                Correlation c = stats.attentionVsConductance(l, h);
                if (c.count() > 0) {
                    rows.add(correlation(Metrics.HEAD_ATTENTION_VS_CONDUCTANCE, l, h, c, slice));
                }
            }
        }
        return rows;
    }

    static List<Row> headSimilarity(CorpusStatistics stats, Keys.Slice slice) {
        List<Row> rows = new ArrayList<>();
        if (stats.jsSamples() == 0) {
            return rows;
        }
        int p = stats.layers() * stats.heads();
        for (int x = 0; x < p; x++) {
            for (int y = 0; y < p; y++) {
                rows.add(slicedRow(HEAD_SIMILARITY_SCHEMA, slice).set("layer_a", x / stats.heads())
                        .set("head_a", x % stats.heads()).set("layer_b", y / stats.heads())
                        .set("head_b", y % stats.heads()).set("mean_js_distance", stats.meanJsDistance(x, y))
                        .set("samples", stats.jsSamples()).row());
            }
        }
        return rows;
    }

    /**
     * The ledger's own table of token_importance's partial sums: per partition, a row per key the partition saw.
     * The driver never holds the keys (word-level keys grow with the corpus's vocabulary); Spark aggregates them.
     */
    static final String TOKEN_IMPORTANCE_PARTS = "token_importance_parts";

    static final StructType TOKEN_IMPORTANCE_PARTS_SCHEMA = new StructType()
            .add("partition", DataTypes.IntegerType, false)
            .add(Keys.Slice.COLUMN, DataTypes.StringType, false)
            .add(Keys.Slice.VALUE_COLUMN, DataTypes.StringType, false)
            .add("method", DataTypes.StringType, false)
            .add("unit", DataTypes.StringType, false)
            .add("token", DataTypes.StringType, false)
            .add("target", DataTypes.StringType, false)
            .add("count", DataTypes.LongType, false)
            .add("sum", DataTypes.DoubleType, false)
            .add("abs_sum", DataTypes.DoubleType, false)
            .add("sum_squares", DataTypes.DoubleType, false);

    /** One partition's sums of one token_importance key: {count, sum, sum of |score|, sum of squares}. */
    static Row tokenImportancePart(int partition, Keys.Slice slice, Keys.Token key, double[] sums) {
        return slicedRow(TOKEN_IMPORTANCE_PARTS_SCHEMA, slice).set("partition", partition).set("method", key.method())
                .set("unit", key.unit()).set("token", key.token()).set("target", key.target())
                .set("count", (long) sums[0]).set("sum", sums[1]).set("abs_sum", sums[2]).set("sum_squares", sums[3])
                .row();
    }

    /**
     * token_importance from the partitions' partial sums, as a Spark aggregation: each key's parts are added in
     * partition order (sorted, then folded), so the sums are the same bit for bit whichever attempts, retries or
     * resumed runs wrote the parts, and the shuffle's arrival order does not matter. Rows ordered by key.
     */
    static Dataset<Row> tokenImportance(Dataset<Row> parts) {
        Column sorted = functions.array_sort(functions.collect_list(functions.struct("partition", "count", "sum",
                "abs_sum", "sum_squares")));
        return parts.groupBy("slice", "slice_value", "method", "unit", "token", "target").agg(sorted.as("parts"))
                .select(functions.col("slice"), functions.col("slice_value"), functions.col("token"),
                        functions.col("target"), functions.col("method"), functions.col("unit"),
                        functions.expr("aggregate(parts, 0L, (a, p) -> a + p.count)").as("count"),
                        functions.expr("aggregate(parts, 0D, (a, p) -> a + p.sum)").as("sum"),
                        functions.expr("aggregate(parts, 0D, (a, p) -> a + p.abs_sum)").as("abs_sum"),
                        functions.expr("aggregate(parts, 0D, (a, p) -> a + p.sum_squares)").as("sum_squares"))
                .select(functions.col("token"), functions.col("target"), functions.col("method"),
                        functions.col("unit"), functions.col("count"),
                        functions.col("sum").divide(functions.col("count")).as("mean"),
                        functions.col("abs_sum").divide(functions.col("count")).as("mean_abs"),
                        // sample standard deviation; null for one score (as head_stats' std is 0 / NaN there)
                        functions.expr("CASE WHEN count > 1 THEN sqrt(greatest(sum_squares - sum * sum / count, 0D) "
                                + "/ (count - 1)) END").as("std"),
                        functions.col("slice"), functions.col("slice_value"))
                .orderBy(functions.col("slice").notEqual(Slices.ALL), functions.col("slice"),
                        functions.col("slice_value"), functions.col("method"), functions.col("unit"),
                        functions.col("token"), functions.col("target"));
    }

    static List<Row> faithfulness(CorpusStatistics stats, Keys.Slice slice) {
        List<Row> rows = new ArrayList<>();
        stats.faithfulness().forEach((k, m) -> {
            rows.add(slicedRow(FAITHFULNESS_SCHEMA, slice).set("method", k.method()).set("target", k.target())
                    .set("metric", k.metric()).set("k", k.k()).set("count", m.count()).set("mean", m.mean())
                    .set("std", nan(m.std())).row());
        });
        return rows;
    }

    static List<Row> methodAgreement(CorpusStatistics stats, Keys.Slice slice) {
        List<Row> rows = new ArrayList<>();
        stats.agreement().forEach((k, m) -> {
            long[] histogram = stats.agreementHistogram(k);
            List<Long> bins = new ArrayList<>();
            for (long c : histogram) {
                bins.add(c);
            }
            rows.add(slicedRow(METHOD_AGREEMENT_SCHEMA, slice).set("method_a", k.methodA()).set("method_b", k.methodB())
                    .set("target", k.target()).set("unit", k.unit()).set("metric", k.metric()).set("count", m.count())
                    .set("mean", m.mean()).set("std", nan(m.std())).set("min", m.min()).set("max", m.max())
                    .set("histogram", seq(bins)).row());
        });
        return rows;
    }

    /**
     * An aggregate table's schema with its slice columns last: {@code slice} (the definition: all, label, length,
     * column:NAME, ...) and {@code slice_value}; the whole corpus is slice {@code all}, value {@code all}.
     */
    private static StructType sliced(StructType schema) {
        return schema.add(Keys.Slice.COLUMN, DataTypes.StringType, false).add(Keys.Slice.VALUE_COLUMN,
                DataTypes.StringType, false);
    }

    /** A row of an aggregate table, its slice columns set. */
    private static NamedRow slicedRow(StructType schema, Keys.Slice slice) {
        return NamedRow.of(schema).set(Keys.Slice.COLUMN, slice.slice()).set(Keys.Slice.VALUE_COLUMN, slice.value());
    }

    /** A layer_correlations row: one pair (layers a, b, or layer and head) of one kind. */
    private static Row correlation(String kind, int a, int b, Correlation c, Keys.Slice slice) {
        return slicedRow(LAYER_CORRELATIONS_SCHEMA, slice).set("kind", kind).set("a", a).set("b", b)
                .set("pooled_r", nan(c.pooled())).set("pooled_count", c.count()).set("sample_mean_r", nan(c.sampleMean()))
                .set("sample_count", c.sampleCount()).row();
    }

    private static Double nan(double v) {
        return Double.isNaN(v) ? null : v;
    }

    // Array columns of a Row are Scala Seqs (Spark's external type for ArrayType).

    static Seq<Object> seq(List<?> values) {
        return CollectionConverters.asScala(new ArrayList<Object>(values)).toSeq();
    }

    static Seq<Object> ints(long[] v) {
        List<Object> out = new ArrayList<>(v.length);
        for (long x : v) {
            out.add((int) x);
        }
        return seq(out);
    }

    static Seq<Object> ints(int[] v) {
        List<Object> out = new ArrayList<>(v.length);
        for (int x : v) {
            out.add(x);
        }
        return seq(out);
    }

    static Seq<Object> boxed(float[] v) {
        if (v == null) {
            return null;
        }
        List<Object> out = new ArrayList<>(v.length);
        for (float x : v) {
            out.add(x);
        }
        return seq(out);
    }

    static Seq<Object> boxed(double[] v) {
        if (v == null) {
            return null;
        }
        List<Object> out = new ArrayList<>(v.length);
        for (double x : v) {
            out.add(x);
        }
        return seq(out);
    }

    static Seq<Object> boxed(float[][] v) {
        if (v == null) {
            return null;
        }
        List<Object> out = new ArrayList<>(v.length);
        for (float[] x : v) {
            out.add(boxed(x));
        }
        return seq(out);
    }

    static Seq<Object> boxed(float[][][] v) {
        if (v == null) {
            return null;
        }
        List<Object> out = new ArrayList<>(v.length);
        for (float[][] x : v) {
            out.add(boxed(x));
        }
        return seq(out);
    }

    static Seq<Object> boxed(float[][][][] v) {
        if (v == null) {
            return null;
        }
        List<Object> out = new ArrayList<>(v.length);
        for (float[][][] x : v) {
            out.add(boxed(x));
        }
        return seq(out);
    }
}
