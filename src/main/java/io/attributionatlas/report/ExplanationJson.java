package io.attributionatlas.report;

import io.attributionatlas.schema.Json;
import com.google.gson.Gson;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.analysis.HeadMetrics;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;

/**
 * One explanation as JSON, arrays as nested lists; keys of analyses that were off are absent. Indices
 * are 0-based (layer, head, query token, key token); attention[l][h][i][j] is query i → key j.
 */
public final class ExplanationJson {

    static final Gson GSON = Json.COMPACT;

    private ExplanationJson() {
    }

    public static JsonObject of(SampleAttribution s, AttributionOptions options) {
        JsonObject o = new JsonObject();
        o.addProperty("text", s.sample().input().text());
        if (s.sample().input().textPair() != null) {
            o.addProperty("text_pair", s.sample().input().textPair());
        }
        PredictionJson.add(o, s.prediction());
        putIfPresent(o, "attentions", s.attentions());
        if (s.normFx() != null) {
            JsonObject norms = new JsonObject();
            norms.add("fx", GSON.toJsonTree(s.normFx()));
            norms.add("alpha_fx", GSON.toJsonTree(s.normAlphaFx()));
            norms.add("sum_alpha_fx", GSON.toJsonTree(s.normSumAlphaFx()));
            o.add("norms", norms);
        }
        putIfPresent(o, "rollout", s.rollout());
        float[][] importance = HeadMetrics.meanHeadImportance(s);
        putIfPresent(o, "head_importance", importance);
        o.add("options", options(options, s));
        JsonArray targets = new JsonArray();
        for (TargetAttribution t : s.targets()) {
            targets.add(target(t));
        }
        o.add("targets", targets);
        return o;
    }

    private static JsonObject options(AttributionOptions options, SampleAttribution s) {
        JsonObject o = new JsonObject();
        o.addProperty("method", options.method().captumName());
        o.addProperty("n_steps", options.nSteps());
        o.addProperty("conductance", options.conductance().cliName());
        o.addProperty("baseline", options.baseline().describe());
        o.addProperty("target", options.target().describe());
        o.addProperty("output", options.output().cliName());
        o.addProperty("qa_reduction", options.qaReduction().cliName());
        o.addProperty("strategy", options.strategy().name().toLowerCase(java.util.Locale.ROOT));
        o.addProperty("points_ig", s.pointsIg());
        o.addProperty("points_conductance", s.pointsConductance());
        JsonArray analyses = new JsonArray();
        options.analyses().forEach(a -> analyses.add(a.cliName()));
        o.add("analyses", analyses);
        return o;
    }

    private static JsonObject target(TargetAttribution t) {
        JsonObject o = new JsonObject();
        o.addProperty("name", t.name());
        o.addProperty("index", t.index());
        o.addProperty("label", t.label());
        o.addProperty("f_input", t.fInput());
        o.addProperty("f_baseline", t.fBaseline());
        if (t.igTokenSum() != null) {
            JsonObject ig = new JsonObject();
            ig.add("token_sum", GSON.toJsonTree(t.igTokenSum()));
            ig.add("token_norm", GSON.toJsonTree(t.igTokenNorm()));
            ig.addProperty("delta", t.delta());
            o.add("ig", ig);
        }
        if (t.layerTokenSum() != null || t.attentionConductance() != null) {
            JsonObject c = new JsonObject();
            putIfPresent(c, "layer_token_sum", t.layerTokenSum());
            putIfPresent(c, "layer_total", t.layerTotal());
            putIfPresent(c, "attention", t.attentionConductance());
            o.add("conductance", c);
        }
        putIfPresent(o, "grad_x_input", t.gradXInput());
        putIfPresent(o, "head_importance", t.headImportance());
        if (t.methods() != null && !t.methods().isEmpty()) {
            JsonObject methods = new JsonObject();
            t.methods().forEach((name, m) -> {
                JsonObject r = new JsonObject();
                r.add("token_attributions", GSON.toJsonTree(m.tokenAttributions()));
                r.add("word_attributions", GSON.toJsonTree(m.wordAttributions()));
                r.addProperty("forward_passes", m.forwardPasses());
                r.addProperty("backward_passes", m.backwardPasses());
                if (m.headScores() != null) {
                    r.add("head_importance", GSON.toJsonTree(m.headScores()));
                    if (m.matrices() != null) {
                        r.add("matrices", GSON.toJsonTree(m.matrices()));
                    }
                }
                if (m.layerMatrices() != null) {
                    r.add("layer_matrices", GSON.toJsonTree(m.layerMatrices()));
                }
                if (m.partNorms() != null) {
                    r.add("layer_part_norms", GSON.toJsonTree(m.partNorms()));
                }
                if (m.biasPart() != null) {
                    r.addProperty("bias_part", m.biasPart());
                }
                methods.add(name, r);
            });
            o.add("methods", methods);
        }
        if (t.faithfulness() != null && !t.faithfulness().isEmpty()) {
            JsonObject faithfulness = new JsonObject();
            t.faithfulness().forEach((name, v) -> {
                JsonObject r = new JsonObject();
                int n = io.attributionatlas.attribution.Faithfulness.FRACTIONS.length;
                r.add("fractions", GSON.toJsonTree(io.attributionatlas.attribution.Faithfulness.FRACTIONS));
                r.add("comprehensiveness", GSON.toJsonTree(java.util.Arrays.copyOfRange(v, 0, n)));
                r.add("sufficiency", GSON.toJsonTree(java.util.Arrays.copyOfRange(v, n, 2 * n)));
                r.addProperty("aopc_comprehensiveness", io.attributionatlas.attribution.Faithfulness.aopc(v, 0));
                r.addProperty("aopc_sufficiency", io.attributionatlas.attribution.Faithfulness.aopc(v, 1));
                faithfulness.add(name, r);
            });
            o.add("faithfulness", faithfulness);
        }
        return o;
    }

    private static void putIfPresent(JsonObject o, String key, Object value) {
        if (value != null) {
            o.add(key, GSON.toJsonTree(value));
        }
    }

    public static String toJson(JsonObject o) {
        return GSON.toJson(o);
    }
}
