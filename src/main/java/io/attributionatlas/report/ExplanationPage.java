package io.attributionatlas.report;

import io.attributionatlas.schema.Json;
import com.google.gson.Gson;
import com.google.gson.JsonObject;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Prediction;
import java.util.Locale;

/**
 * One explanation as a self-contained HTML page (no network: CSS and JavaScript inline): Captum-style
 * coloured tokens, a layer × token conductance heatmap, layer × head grids of head statistics, and a
 * BertViz-style head view of attention or attention conductance. All text is HTML-escaped; the data
 * for the head view is embedded as JSON with {@code <}, {@code >} and {@code &} escaped.
 */
public final class ExplanationPage {

    /** Gson's default escapes < > & = ' as \\u00XX, so embedded JSON cannot close its script element. */
    private static final Gson SCRIPT_SAFE = Json.SCRIPT_SAFE;

    /** A decomposition's per-layer matrices are drawn up to this many tokens (an SVG cell each). */
    private static final int MAX_MATRIX_TOKENS = 64;

    private ExplanationPage() {
    }

    public static String render(SampleAttribution s, AttributionOptions options, ModelConfig config) {
        EncodedText e = s.sample().encoding();
        String[] tokens = e.tokens();
        StringBuilder b = new StringBuilder();
        b.append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Attribution Atlas — ")
                .append(Html.escape(shorten(s.sample().input().text()))).append("</title><style>").append(Html.STYLE)
                .append("</style></head><body>");
        b.append("<h1>Attribution Atlas: explanation</h1><table class=\"kv\">");
        row(b, "text", s.sample().input().text());
        if (s.sample().input().textPair() != null) {
            row(b, "text pair", s.sample().input().textPair());
        }
        row(b, "model", config.family().modelType() + " " + config.architectures() + ", task "
                + config.task().cliName() + ", " + config.numLayers() + " layers × " + config.numHeads() + " heads");
        Prediction p = s.prediction();
        if (p.logits() != null) {
            row(b, "prediction", String.format(Locale.ROOT, "%s (p = %.4f)", p.label(), p.probabilities()[p.labelIndex()]));
        } else if (p.answer() != null) {
            row(b, "answer", String.format(Locale.ROOT, "\"%s\" (tokens %d..%d)", p.answer().text(), p.answer().start(),
                    p.answer().end()));
        }
        row(b, "options", String.format(Locale.ROOT, "method %s, n_steps %d (IG points %d, conductance points %d), "
                + "conductance rule %s, baseline %s, target %s, output %s", options.method().captumName(),
                options.nSteps(), s.pointsIg(), s.pointsConductance(), options.conductance().cliName(),
                options.baseline().describe(), options.target().describe(), options.output().cliName()));
        if (e.truncated()) {
            row(b, "note", "the input was truncated to the model's maximum length");
        }
        b.append("</table>");

        for (TargetAttribution t : s.targets()) {
            b.append(String.format(Locale.ROOT, "<h2>Target: %s %d (%s)</h2>", Html.escape(t.name()), t.index(),
                    Html.escape(t.label())));
            b.append(String.format(Locale.ROOT, "<p class=\"note\">F(x) = %.5f, F(x′) = %.5f, F(x) − F(x′) = %.5f",
                    t.fInput(), t.fBaseline(), t.fInput() - t.fBaseline()));
            if (t.igTokenSum() != null) {
                b.append(String.format(Locale.ROOT, "; integrated-gradients convergence delta %.2e", t.delta()));
            }
            b.append("</p>");
            float[] tokenScores = t.igTokenSum() != null ? t.igTokenSum() : t.gradXInput();
            if (tokenScores != null) {
                b.append("<h3>").append(t.igTokenSum() != null ? "Integrated gradients" : "Gradient × input")
                        .append(" per token</h3>");
                colouredTokens(b, tokens, tokenScores);
            }
            if (t.layerTokenSum() != null) {
                String[] layers = layerLabels(t.layerTokenSum().length);
                b.append(Html.heatmap("Layer conductance (layer × token, summed over hidden; rows sum to ≈ F(x) − F(x′))",
                        layers, tokens, t.layerTokenSum(), true));
            }
            methods(b, t, tokens, t == s.targets().get(0));
        }

        HeadStatistics stats = HeadStatistics.of(s);
        if (!stats.isEmpty()) {
            b.append("<h2>Heads (layer × head)</h2><div class=\"grid\">");
            stats.forEach((name, values, diverging) -> b.append(Html.heatmap(name, layerLabels(values.length),
                    headLabels(values[0].length), values, diverging)));
            b.append("</div>");
        }
        if (s.attentions() != null) {
            headView(b, s, tokens);
        }
        b.append("<p class=\"note\">Indices are 0-based (layer, head, token). Attention[l][h][i][j] is query token i "
                + "attending to key token j. Generated by Attribution Atlas.</p></body></html>\n");
        return b.toString();
    }

    /**
     * The target's methods: each one's token scores; on the first target, a decomposition's per-layer token-to-token
     * matrices (up to {@value #MAX_MATRIX_TOKENS} tokens; beyond, they are in --json) and a method's per-head scores.
     */
    private static void methods(StringBuilder b, TargetAttribution t, String[] tokens, boolean first) {
        if (t.methods() == null) {
            return;
        }
        for (MethodScores m : t.methods().values()) {
            b.append("<h3>Method ").append(Html.escape(m.name())).append(" per token</h3>");
            colouredTokens(b, tokens, m.tokenAttributions());
            if (m.biasPart() != null) {
                b.append("<p>Bias part (belongs to no token; with the tokens' scores it makes the score): ")
                        .append(String.format(java.util.Locale.ROOT, "%.4f", m.biasPart())).append("</p>");
            }
            if (!first) {
                continue;
            }
            if (m.headScores() != null) {
                b.append(Html.heatmap(m.name() + " per head (layer × head)", layerLabels(m.headScores().length),
                        headLabels(m.headScores()[0].length), m.headScores(), false));
            }
            if (m.layerMatrices() != null && tokens.length <= MAX_MATRIX_TOKENS) {
                b.append("<details><summary>").append(Html.escape(m.name())).append(": per-layer token-to-token "
                        + "contributions (").append(m.layerMatrices().length).append(" layers)</summary><div class=\"grid\">");
                for (int l = 0; l < m.layerMatrices().length; l++) {
                    b.append(Html.heatmap(m.name() + ", layer " + l + " (row: receives, column: contributes)",
                            tokens, tokens, m.layerMatrices()[l], hasNegative(m.layerMatrices()[l])));
                }
                b.append("</div></details>");
            }
            if (m.partNorms() != null && tokens.length <= MAX_MATRIX_TOKENS) {
                b.append("<details><summary>").append(Html.escape(m.name())).append(": per-layer norm of each token's "
                        + "part, ‖part‖₂ (the authors' output; ").append(m.partNorms().length).append(" layers)</summary>"
                        + "<div class=\"grid\">");
                for (int l = 0; l < m.partNorms().length; l++) {
                    b.append(Html.heatmap(m.name() + " ‖part‖₂, layer " + l + " (row: hidden state, column: token)",
                            tokens, tokens, m.partNorms()[l], false));
                }
                b.append("</div></details>");
            }
        }
    }

    private static boolean hasNegative(float[][] values) {
        for (float[] row : values) {
            for (float v : row) {
                if (v < 0) {
                    return true;
                }
            }
        }
        return false;
    }

    private static void row(StringBuilder b, String key, String value) {
        b.append("<tr><td>").append(Html.escape(key)).append("</td><td>").append(Html.escape(value)).append("</td></tr>");
    }

    private static void colouredTokens(StringBuilder b, String[] tokens, float[] scores) {
        double scale = 0;
        for (float v : scores) {
            scale = Math.max(scale, Math.abs(v));
        }
        b.append("<div class=\"tokens\">");
        for (int i = 0; i < tokens.length; i++) {
            b.append(String.format(Locale.ROOT, "<span class=\"tok\" style=\"background:%s\" title=\"%s: %.4f\">%s</span> ",
                    Html.diverging(scores[i], scale), Html.escape(tokens[i]), scores[i], Html.escape(tokens[i])));
        }
        b.append(String.format(Locale.ROOT, "</div><div class=\"legend\">%.3g <span class=\"bar\"></span> %.3g "
                + "(red: against the target, green: for it)</div>", -scale, scale));
    }

    static String[] layerLabels(int n) {
        String[] labels = new String[n];
        for (int i = 0; i < n; i++) {
            labels[i] = "layer " + i;
        }
        return labels;
    }

    static String[] headLabels(int n) {
        String[] labels = new String[n];
        for (int i = 0; i < n; i++) {
            labels[i] = "h" + i;
        }
        return labels;
    }

    /** BertViz-style view: pick layer, head and quantity; lines from each token weighted by it. */
    private static void headView(StringBuilder b, SampleAttribution s, String[] tokens) {
        JsonObject data = new JsonObject();
        data.add("tokens", SCRIPT_SAFE.toJsonTree(tokens));
        data.add("attention", SCRIPT_SAFE.toJsonTree(s.attentions()));
        if (!s.targets().isEmpty() && s.targets().get(0).attentionConductance() != null) {
            data.add("conductance", SCRIPT_SAFE.toJsonTree(s.targets().get(0).attentionConductance()));
        }
        b.append("<h2>Head view</h2>").append(Html.HEAD_VIEW_MARKUP);
        b.append("<script type=\"application/json\" id=\"hv-data\">").append(SCRIPT_SAFE.toJson(data))
                .append("</script>").append(Html.HEAD_VIEW_SCRIPT)
                .append("<script>atlasHeadView(JSON.parse(document.getElementById('hv-data').textContent));</script>");
    }

    private static String shorten(String s) {
        return s.length() > 60 ? s.substring(0, 57) + "..." : s;
    }
}
