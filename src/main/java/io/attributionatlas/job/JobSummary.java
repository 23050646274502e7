package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Moments;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/** The short summary a run prints: where the tables are, top heads by [SEP] attention, top tokens per class. */
final class JobSummary {

    private JobSummary() {
    }

    static void print(AttributionJob.Result r, PrintStream out) {
        CorpusStatistics s = r.statistics();
        out.println("tables: " + r.output() + "/{samples,errors,head_stats,head_relations,layer_correlations,"
                + "head_similarity,token_importance,sample_matrices,manifest}");
        Moments[] sep = s.headStats().get("attn_sep");
        if (sep != null) {
            List<Integer> heads = new ArrayList<>();
            for (int i = 0; i < sep.length; i++) {
                heads.add(i);
            }
            heads.sort(Comparator.comparingDouble(i -> -sep[i].mean()));
            StringBuilder b = new StringBuilder("top heads by attention to [SEP]:");
            for (int i : heads.subList(0, Math.min(5, heads.size()))) {
                b.append(String.format(Locale.ROOT, "  L%d-H%d %.3f", i / s.heads(), i % s.heads(), sep[i].mean()));
            }
            out.println(b);
        }
        Map<String, double[]> tokens = s.tokenImportance();
        if (!tokens.isEmpty()) {
            Map<String, List<Map.Entry<String, double[]>>> byTarget = new java.util.TreeMap<>();
            for (Map.Entry<String, double[]> e : tokens.entrySet()) {
                String target = e.getKey().substring(e.getKey().indexOf('\t') + 1);
                String token = e.getKey().substring(0, e.getKey().indexOf('\t'));
                if (e.getValue()[0] >= 3 && !token.startsWith("[") && token.chars().anyMatch(Character::isLetter)) {
                    byTarget.computeIfAbsent(target, k -> new ArrayList<>()).add(e);
                }
            }
            byTarget.forEach((target, entries) -> {
                entries.sort(Comparator.comparingDouble(e -> -e.getValue()[1] / e.getValue()[0]));
                StringBuilder b = new StringBuilder("most important tokens for " + target + " (" + s.tokenSource()
                        + ", mean, seen ≥ 3 times):");
                for (Map.Entry<String, double[]> e : entries.subList(0, Math.min(8, entries.size()))) {
                    b.append(String.format(Locale.ROOT, "  %s %.3f", e.getKey().substring(0, e.getKey().indexOf('\t')),
                            e.getValue()[1] / e.getValue()[0]));
                }
                out.println(b);
            });
        }
    }
}
