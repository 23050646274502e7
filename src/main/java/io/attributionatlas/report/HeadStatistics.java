package io.attributionatlas.report;

import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import java.util.ArrayList;
import java.util.List;

/** Per (layer, head) summaries of one sample for the page's grids. */
final class HeadStatistics {

    /** One named layer × head grid. */
    interface Visitor {
        void grid(String name, float[][] values, boolean diverging);
    }

    private record Grid(String name, float[][] values, boolean diverging) {
    }

    private final List<Grid> grids = new ArrayList<>();

    static HeadStatistics of(SampleAttribution s) {
        HeadStatistics stats = new HeadStatistics();
        float[][] importance = ExplanationJson.meanHeadImportance(s);
        if (importance != null) {
            stats.grids.add(new Grid("Head importance |∂F/∂ξ|", importance, false));
        }
        float[][][][] a = s.attentions();
        if (a != null) {
            EncodedText e = s.sample().encoding();
            int layers = a.length;
            int heads = a[0].length;
            int n = e.length();
            float[][] entropy = new float[layers][heads];
            float[][] toCls = new float[layers][heads];
            float[][] toSep = new float[layers][heads];
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    double ent = 0;
                    double cls = 0;
                    double sep = 0;
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < n; j++) {
                            double p = 0.9999 * a[l][h][i][j] + 0.0001 / n;
                            ent -= p * Math.log(p);
                            if (e.special()[j] && j == 0) {
                                cls += a[l][h][i][j];
                            } else if (e.special()[j]) {
                                sep += a[l][h][i][j];
                            }
                        }
                    }
                    entropy[l][h] = (float) (ent / n);
                    toCls[l][h] = (float) (cls / n);
                    toSep[l][h] = (float) (sep / n);
                }
            }
            stats.grids.add(new Grid("Attention entropy (mean over queries)", entropy, false));
            stats.grids.add(new Grid("Attention to [CLS]", toCls, false));
            stats.grids.add(new Grid("Attention to [SEP]", toSep, false));
        }
        if (!s.targets().isEmpty() && s.targets().get(0).attentionConductance() != null) {
            TargetAttribution t = s.targets().get(0);
            float[][][][] c = t.attentionConductance();
            float[][] mass = new float[c.length][c[0].length];
            for (int l = 0; l < c.length; l++) {
                for (int h = 0; h < c[l].length; h++) {
                    double sum = 0;
                    for (float[] row : c[l][h]) {
                        for (float v : row) {
                            sum += v;
                        }
                    }
                    mass[l][h] = (float) sum;
                }
            }
            stats.grids.add(new Grid("Attention conductance mass (" + t.name() + " " + t.label() + ")", mass, true));
        }
        return stats;
    }

    boolean isEmpty() {
        return grids.isEmpty();
    }

    void forEach(Visitor v) {
        grids.forEach(g -> v.grid(g.name(), g.values(), g.diverging()));
    }
}
