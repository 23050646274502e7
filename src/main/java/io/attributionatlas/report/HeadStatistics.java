package io.attributionatlas.report;

import io.attributionatlas.attribution.HeadConductance;
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
        if (!s.targets().isEmpty() && s.targets().get(0).headConductance() != null) {
            TargetAttribution t = s.targets().get(0);
            HeadConductance c = t.headConductance();
            int n = s.sample().length();
            float[][] mass = new float[c.moments().length][c.moments()[0].length];
            for (int l = 0; l < mass.length; l++) {
                for (int h = 0; h < mass[l].length; h++) {
                    mass[l][h] = (float) c.mass(l, h, n);
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
