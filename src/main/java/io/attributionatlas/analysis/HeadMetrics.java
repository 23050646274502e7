package io.attributionatlas.analysis;

import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Per-sample, per-head statistics (Clark et al. 2019; Kobayashi et al. 2020). For a weight matrix
 * W[i][j] (query i → key j) over n real tokens, each category is Σ over matching entries / n: self
 * (j = i), next (j = i+1), previous (j = i−1), [CLS] (j = 0, a special token), [SEP] (other special
 * tokens), punctuation ("." and ",", also as BPE and SentencePiece write them after a space: "Ġ.", "▁,").
 * Attention also gets entropy (mean over queries of −Σ A′ log A′, A′ = 0.9999 A + 0.0001/n) and the entropy of
 * the [CLS] row. The categories are computed for
 * attention ({@code attn_*}), for ‖α f(x)‖ ({@code norm_*}), for the first target's attention
 * conductance signed ({@code cond_*}) and absolute ({@code cond_abs_*}), plus {@code head_importance}
 * (|∂F/∂ξ_h| averaged over targets).
 */
public final class HeadMetrics {

    static final List<String> CATEGORIES = List.of("self", "next", "prev", "cls", "sep", "punct");

    private HeadMetrics() {
    }

    /** Metric name → [layer][head], for the analyses the sample has. */
    public static Map<String, float[][]> of(SampleAttribution s) {
        Map<String, float[][]> out = new LinkedHashMap<>();
        EncodedText e = s.sample().encoding();
        if (s.attentions() != null) {
            categories(out, "attn_", s.attentions(), e, false);
            entropies(out, s.attentions());
        }
        if (s.normAlphaFx() != null) {
            categories(out, "norm_", s.normAlphaFx(), e, false);
        }
        if (!s.targets().isEmpty() && s.targets().get(0).attentionConductance() != null) {
            categories(out, "cond_", s.targets().get(0).attentionConductance(), e, false);
            categories(out, "cond_abs_", s.targets().get(0).attentionConductance(), e, true);
        }
        float[][] importance = meanHeadImportance(s);
        if (importance != null) {
            out.put("head_importance", importance);
        }
        return out;
    }

    private static void categories(Map<String, float[][]> out, String prefix, float[][][][] w, EncodedText e,
            boolean absolute) {
        int layers = w.length;
        int heads = w[0].length;
        int n = e.length();
        float[][][] values = new float[CATEGORIES.size()][layers][heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                double[] sums = new double[CATEGORIES.size()];
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < n; j++) {
                        double v = absolute ? Math.abs(w[l][h][i][j]) : w[l][h][i][j];
                        if (j == i) {
                            sums[0] += v;
                        }
                        if (j == i + 1) {
                            sums[1] += v;
                        }
                        if (j == i - 1) {
                            sums[2] += v;
                        }
                        if (e.special()[j] && j == 0) {
                            sums[3] += v;
                        } else if (e.special()[j]) {
                            sums[4] += v;
                        }
                        if (punctuation(e.tokens()[j])) {
                            sums[5] += v;
                        }
                    }
                }
                for (int c = 0; c < sums.length; c++) {
                    values[c][l][h] = (float) (sums[c] / n);
                }
            }
        }
        for (int c = 0; c < CATEGORIES.size(); c++) {
            out.put(prefix + CATEGORIES.get(c), values[c]);
        }
    }

    /** "." and "," as WordPiece writes them, and as BPE ("Ġ.") and SentencePiece ("▁.") write them after a space. */
    static boolean punctuation(String token) {
        String t = token.startsWith("\u0120") || token.startsWith("\u2581") ? token.substring(1) : token;
        return t.equals(".") || t.equals(",");
    }

    private static void entropies(Map<String, float[][]> out, float[][][][] a) {
        int layers = a.length;
        int heads = a[0].length;
        float[][] entropy = new float[layers][heads];
        float[][] clsEntropy = new float[layers][heads];
        for (int l = 0; l < layers; l++) {
            for (int h = 0; h < heads; h++) {
                int n = a[l][h].length;
                double total = 0;
                for (int i = 0; i < n; i++) {
                    double rowEntropy = rowEntropy(a[l][h][i]);
                    total += rowEntropy;
                    if (i == 0) {
                        clsEntropy[l][h] = (float) rowEntropy;
                    }
                }
                entropy[l][h] = (float) (total / n);
            }
        }
        out.put("entropy", entropy);
        out.put("cls_entropy", clsEntropy);
    }

    static double rowEntropy(float[] row) {
        int n = row.length;
        double h = 0;
        for (float v : row) {
            double p = 0.9999 * v + 0.0001 / n;
            h -= p * Math.log(p);
        }
        return h;
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
