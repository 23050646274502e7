package io.attributionatlas.analysis;

import io.attributionatlas.attribution.HeadReductions;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.schema.Metrics;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Per-sample, per-head statistics (Clark et al. 2019; Kobayashi et al. 2020), as the engine reduced them on the
 * model's device ({@link HeadReductions} defines them): the categories for attention ({@code attn_*}), for
 * ‖α f(x)‖ ({@code norm_*}), for the first target's attention conductance signed ({@code cond_*}) and absolute
 * ({@code cond_abs_*}); attention entropy and the [CLS] row's; and {@code head_importance} (|∂F/∂ξ_h| averaged over
 * targets).
 */
public final class HeadMetrics {

    private HeadMetrics() {
    }

    /** Metric name → [layer][head], for the analyses the sample has. */
    public static Map<String, float[][]> of(SampleAttribution s) {
        Map<String, float[][]> out = new LinkedHashMap<>();
        if (s.headMetrics() != null) {
            out.putAll(s.headMetrics());
        }
        if (!s.targets().isEmpty() && s.targets().get(0).headConductance() != null) {
            out.putAll(s.targets().get(0).headConductance().categories());
        }
        float[][] importance = meanHeadImportance(s);
        if (importance != null) {
            out.put(Metrics.HEAD_IMPORTANCE, importance);
        }
        return out;
    }

    /** Head importance averaged over the sample's targets (QA: start and end), or null. */
    public static float[][] meanHeadImportance(SampleAttribution s) {
        float[][] mean = null;
        for (TargetAttribution t : s.targets()) {
            if (t.headImportance() == null) {
                continue;
            }
            if (mean == null) {
                mean = new float[t.headImportance().length][t.headImportance()[0].length];
            }
            for (int l = 0; l < mean.length; l++) {
                for (int h = 0; h < mean[l].length; h++) {
                    mean[l][h] += t.headImportance()[l][h] / s.targets().size();
                }
            }
        }
        return mean;
    }
}
