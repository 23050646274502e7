package io.attributionatlas.report;

import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.analysis.HeadMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
        Map<String, float[][]> metrics = HeadMetrics.of(s);
        for (String[] shown : new String[][] {{"head_importance", "Head importance |∂F/∂ξ|"},
            {"entropy", "Attention entropy (mean over queries)"}, {"attn_cls", "Attention to [CLS]"},
            {"attn_sep", "Attention to [SEP]"}}) {
            if (metrics.containsKey(shown[0])) {
                stats.grids.add(new Grid(shown[1], metrics.get(shown[0]), false));
            }
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
