package io.attributionatlas.attribution;

import io.attributionatlas.model.Prediction;
import java.util.List;

/**
 * Everything one explanation computes for one sample. Arrays of analyses that were switched off are
 * null. Indices are 0-based: layer, head, query token, key token.
 *
 * @param prediction the model's prediction at the input
 * @param attentions attention probabilities [L][H][S][S]; this and the other [S][S] matrices (norms, rollout,
 *     attention conductance) only when the sample asked for them ({@link Sample#matrices()})
 * @param normFx ‖f_h(x_j)‖ [L][H][S]
 * @param normAlphaFx ‖α_ij f_h(x_j)‖ [L][H][S][S]
 * @param normSumAlphaFx ‖Σ_h α_ij f_h(x_j)‖ [L][S][S]
 * @param rollout attention rollout [S][S]
 * @param headSimilarity mean Jensen–Shannon distance between heads x &lt; y over query rows, [P · P] row-major with
 *     P = L · H and x = layer · H + head (the rest 0); computed on the model's device for the samples
 *     {@link AttributionOptions#headSimilarityRate(double)} chooses, else null
 * @param headMetrics per-head statistics of the forward-only analyses, reduced on the model's device (see
 *     {@link HeadReductions}): {@code attn_<category>}, {@code entropy}, {@code cls_entropy} (with attention) and
 *     {@code norm_<category>} (with norms) → [layer][head]
 * @param targets one attribution per target
 * @param pointsIg path points integrated gradients used (0 when not computed)
 * @param pointsConductance path points conductance used (0 when not computed)
 * @param queryKeys the per-head query and key vectors behind the attentions (BertViz's neuron view), with them
 * @param embeddings the contextual embeddings of the sample's {@link Sample#embeddingPositions()}, or null
 */
public record SampleAttribution(
        Sample sample,
        Prediction prediction,
        float[][][][] attentions,
        float[][][] normFx,
        float[][][][] normAlphaFx,
        float[][][] normSumAlphaFx,
        float[][] rollout,
        float[] headSimilarity,
        java.util.Map<String, float[][]> headMetrics,
        List<TargetAttribution> targets,
        int pointsIg,
        int pointsConductance,
        QueryKeyVectors queryKeys,
        TokenEmbeddings embeddings) {
}
