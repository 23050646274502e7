package io.attributionatlas.cli;

import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.report.ExplanationJson;
import io.attributionatlas.report.ExplanationPage;
import java.io.PrintStream;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/** {@code atlas explain}: every analysis of one text (or text pair), on the console, as JSON and as HTML. */
final class ExplainCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "explain --model DIR --text TEXT [--text-pair TEXT] [--method M] [--n-steps N]"
                + " [--conductance trapezoid|captum|quadratic] [--baseline pad|mask|unk|zero|ID] [--target predicted|label|all|CLASS]"
                + " [--label CLASS] [--output logit|probability] [--qa-reduction index|argmax|max] [--strategy single_pass|naive]"
                + " [--analyses LIST] [--methods LIST] [--n-samples N] [--seed N] [--faithfulness true|false]"
                + MethodsCommand.optionUsage()
                + " [--internal-batch-size N] [--memory-mb MB] [--task T] [--device auto|cpu|gpu|gpu:N] [--json FILE] [--html FILE]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Set<String> allowed = new HashSet<>(ModelOptions.names("text", "text-pair", "label", "json", "html"));
        AttributionOptions.KEYS.forEach(k -> allowed.add(k.replace('_', '-')));
        Arguments a = new Arguments(args, 1, allowed);
        AttributionOptions options = AttributionOptions.defaults();
        for (String key : AttributionOptions.KEYS) {
            String value = a.get(key.replace('_', '-'));
            if (value != null) {
                try {
                    options.set(key, value);
                } catch (IllegalArgumentException e) {
                    throw new UsageException("--" + e.getMessage().replaceFirst("^" + key, key.replace('_', '-')));
                }
            }
        }
        String text = a.require("text");
        if (text.isBlank()) {
            throw new UsageException("--text is empty");
        }
        try (Predictor predictor = ModelOptions.open(a);
                Explainer explainer = explainer(predictor, options)) {
            Integer label = a.has("label") ? classIndex(a.get("label"), predictor) : null;
            long t0 = System.nanoTime();
            SampleAttribution s = explainer.attribute(List.of(explainer.sample(
                    new TextInput("text", text, a.get("text-pair")), label))).get(0);
            double seconds = (System.nanoTime() - t0) / 1e9;
            print(s, options, out);
            out.printf(Locale.ROOT, "(%.2f s)%n", seconds);
            if (a.has("json")) {
                com.google.gson.JsonObject json = ExplanationJson.of(s, options);
                // where and how it computed: results differ between devices and precisions by rounding
                json.getAsJsonObject("options").addProperty("device", predictor.model().manager().getDevice()
                        .toString());
                json.getAsJsonObject("options").addProperty("precision", predictor.model().precision().cliName());
                OutputFiles.write(a.path("json"), ExplanationJson.toJson(json) + "\n");
                err.println("atlas explain: JSON written to " + a.get("json"));
            }
            if (a.has("html")) {
                OutputFiles.write(a.path("html"), ExplanationPage.render(s, options, predictor.model().config()));
                err.println("atlas explain: HTML written to " + a.get("html"));
            }
        }
        return 0;
    }

    private static Explainer explainer(Predictor predictor, AttributionOptions options) {
        try {
            return new Explainer(predictor, options);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    private static Integer classIndex(String value, Predictor predictor) {
        try {
            return Explainer.classIndex(value, predictor.model().config().labels());
        } catch (IllegalArgumentException e) {
            throw new UsageException("--label: " + e.getMessage());
        }
    }

    private static void print(SampleAttribution s, AttributionOptions options, PrintStream out) {
        EncodedText e = s.sample().encoding();
        Prediction p = s.prediction();
        if (p.logits() != null) {
            out.printf(Locale.ROOT, "prediction   %s (p = %.4f)%n", p.label(), p.probabilities()[p.labelIndex()]);
        } else if (p.answer() != null) {
            out.printf(Locale.ROOT, "answer       \"%s\" (tokens %d..%d)%n", p.answer().text(), p.answer().start(),
                    p.answer().end());
        }
        for (TargetAttribution t : s.targets()) {
            out.printf(Locale.ROOT, "%ntarget       %s %d (%s): F(x) = %.5f, F(x') = %.5f", t.name(), t.index(), t.label(),
                    t.fInput(), t.fBaseline());
            if (t.igTokenSum() != null) {
                out.printf(Locale.ROOT, ", delta = %.2e (%s, %d points)", t.delta(), options.method().captumName(),
                        s.pointsIg());
            }
            out.println();
            int layers = t.layerTokenSum() == null ? 0 : t.layerTokenSum().length;
            StringBuilder header = new StringBuilder(String.format(Locale.ROOT, "%-16s", "token"));
            if (t.igTokenSum() != null) {
                header.append(String.format(Locale.ROOT, "%9s%9s", "IG", "IG norm"));
            }
            if (t.gradXInput() != null) {
                header.append(String.format(Locale.ROOT, "%9s", "grad*in"));
            }
            for (int l = 0; l < layers; l++) {
                header.append(String.format(Locale.ROOT, "%8s", "cond L" + l));
            }
            out.println(header);
            for (int i = 0; i < e.length(); i++) {
                StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-16s", clip(e.tokens()[i])));
                if (t.igTokenSum() != null) {
                    row.append(String.format(Locale.ROOT, "%9.4f%9.4f", t.igTokenSum()[i], t.igTokenNorm()[i]));
                }
                if (t.gradXInput() != null) {
                    row.append(String.format(Locale.ROOT, "%9.4f", t.gradXInput()[i]));
                }
                for (int l = 0; l < layers; l++) {
                    row.append(String.format(Locale.ROOT, "%8.3f", t.layerTokenSum()[l][i]));
                }
                out.println(row);
            }
            if (t.layerTotal() != null) {
                StringBuilder totals = new StringBuilder(String.format(Locale.ROOT, "%-16s", "layer total"));
                totals.append(" ".repeat((t.igTokenSum() != null ? 18 : 0) + (t.gradXInput() != null ? 9 : 0)));
                for (double total : t.layerTotal()) {
                    totals.append(String.format(Locale.ROOT, "%8.3f", total));
                }
                out.println(totals + String.format(Locale.ROOT, "   (F(x) - F(x') = %.3f; %s rule, %d points)",
                        t.fInput() - t.fBaseline(), options.conductance().cliName(), s.pointsConductance()));
            }
            if (t.methods() != null && !t.methods().isEmpty()) {
                printMethods(e, t, out);
            }
        }
    }

    /** Every method's token scores side by side (by name, in the order requested), word sums and costs. */
    private static void printMethods(EncodedText e, TargetAttribution t, PrintStream out) {
        List<MethodScores> methods = List.copyOf(t.methods().values());
        StringBuilder header = new StringBuilder(String.format(Locale.ROOT, "%n%-16s", "token"));
        methods.forEach(m -> header.append(String.format(Locale.ROOT, "%14s", clip(m.name(), 13))));
        out.println(header);
        for (int i = 0; i < e.length(); i++) {
            StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "%-16s", clip(e.tokens()[i])));
            for (MethodScores m : methods) {
                row.append(String.format(Locale.ROOT, "%14.4f", m.tokenAttributions()[i]));
            }
            out.println(row);
        }
        // Word-level methods repeat a word's score on each of its tokens: sum over words, for every method alike.
        StringBuilder sums = new StringBuilder(String.format(Locale.ROOT, "%-16s", "sum of words"));
        StringBuilder passes = new StringBuilder(String.format(Locale.ROOT, "%-16s", "passes fwd/bwd"));
        for (MethodScores m : methods) {
            double sum = 0;
            for (float v : m.wordAttributions()) {
                sum += v;
            }
            sums.append(String.format(Locale.ROOT, "%14.4f", sum));
            passes.append(String.format(Locale.ROOT, "%14s", m.forwardPasses() + "/" + m.backwardPasses()));
        }
        out.println(sums);
        out.println(passes);
    }

    private static String clip(String token) {
        return clip(token, 15);
    }

    private static String clip(String text, int width) {
        return text.length() > width ? text.substring(0, width - 1) + "~" : text;
    }
}
