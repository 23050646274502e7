package io.attributionatlas.job;

import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.analysis.Moments;
import io.attributionatlas.schema.Keys;
import io.attributionatlas.schema.Metrics;
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
        out.println("tables: " + r.output() + "/{" + String.join(",", java.util.Arrays.stream(
                io.attributionatlas.schema.Table.values()).map(io.attributionatlas.schema.Table::tableName).toList())
                + "}");
        Moments[] sep = s.headStats().get(Metrics.ATTN_SEP);
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
        // Word pieces of one method: the default source, else integrated gradients or the first method there is.
        Map<Keys.Token, double[]> tokens = s.tokenImportance();
        String method = s.tokenSource() != null ? s.tokenSource() : tokens.keySet().stream()
                .map(Keys.Token::method).min(Comparator.comparing((String m) -> !m.equals(Metrics.PREFERRED_TOKEN_METHOD))
                        .thenComparing(m -> m)).orElse(null);
        Map<String, List<Map.Entry<Keys.Token, double[]>>> byTarget = new java.util.TreeMap<>();
        for (Map.Entry<Keys.Token, double[]> e : tokens.entrySet()) {
            Keys.Token key = e.getKey();
            if (key.method().equals(method) && key.unit().equals(Metrics.UNIT_WORD_PIECE) && e.getValue()[0] >= 3
                    && !key.token().startsWith("[") && key.token().chars().anyMatch(Character::isLetter)) {
                byTarget.computeIfAbsent(key.target(), k -> new ArrayList<>()).add(e);
            }
        }
        byTarget.forEach((target, entries) -> {
            entries.sort(Comparator.comparingDouble(e -> -e.getValue()[1] / e.getValue()[0]));
            StringBuilder b = new StringBuilder("most important tokens for " + target + " (" + method
                    + ", mean, seen ≥ 3 times):");
            for (Map.Entry<Keys.Token, double[]> e : entries.subList(0, Math.min(8, entries.size()))) {
                b.append(String.format(Locale.ROOT, "  %s %.3f", e.getKey().token(),
                        e.getValue()[1] / e.getValue()[0]));
            }
            out.println(b);
        });
    }
}
