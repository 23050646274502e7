package io.attributionatlas.cli;

import io.attributionatlas.schema.Json;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code atlas convergence}: how complete integrated gradients and per-layer conductance are as the
 * number of steps grows, on a model and corpus of the user's: relative IG delta
 * |Σ attributions − (F(x) − F(x'))| / |F(x) − F(x')| and, per target, the worst layer's relative
 * completeness error |Σ_tokens C_l − (F(x) − F(x'))| / |F(x) − F(x')|, as median and maximum.
 */
final class ConvergenceCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "convergence " + ModelOptions.USAGE + " --input FILE [--samples 8] [--n-steps 16,32,50,64] [--method M]"
                + " [--conductance trapezoid|captum|quadratic] [--json OUT.json]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, ModelOptions.names("input", "samples", "n-steps", "method", "conductance",
                "json"));
        int samples = a.integer("samples", 8, 1);
        int[] steps;
        try {
            steps = Arrays.stream(a.get("n-steps") == null ? new String[] {"16", "32", "50", "64"}
                    : a.get("n-steps").split(",")).mapToInt(v -> Integer.parseInt(v.trim())).toArray();
        } catch (NumberFormatException e) {
            throw new UsageException("--n-steps must be a comma-separated list of integers");
        }
        List<TextInput> inputs = LocalCorpus.read(a.path("input"));
        inputs = inputs.subList(0, Math.min(samples, inputs.size()));
        JsonObject result = new JsonObject();
        JsonArray rows = new JsonArray();
        try (Predictor predictor = ModelOptions.open(a)) {
            result.addProperty("model", a.path("model").toAbsolutePath().normalize().toString());
            result.addProperty("architecture", predictor.model().config().family().modelType());
            result.addProperty("task", predictor.model().config().task().cliName());
            result.addProperty("samples", inputs.size());
            out.printf("%-8s %-14s %-14s %-14s %-14s%n", "n_steps", "IG median", "IG max", "layers median",
                    "layers max");
            for (int n : steps) {
                AttributionOptions options = AttributionOptions.defaults().nSteps(n)
                        .analyses(Set.of(Analysis.INTEGRATED_GRADIENTS, Analysis.LAYER_CONDUCTANCE));
                if (a.has("method")) {
                    options.set("method", a.get("method"));
                }
                if (a.has("conductance")) {
                    options.set("conductance", a.get("conductance"));
                }
                List<Double> ig = new ArrayList<>();
                List<Double> layers = new ArrayList<>();
                try (Explainer explainer = new Explainer(predictor, options)) {
                    for (SampleAttribution s : explainer.attribute(inputs.stream().map(i -> explainer.sample(i, null))
                            .toList())) {
                        for (TargetAttribution t : s.targets()) {
                            double change = Math.abs(t.fInput() - t.fBaseline());
                            ig.add(Math.abs(t.delta()) / change);
                            double worst = 0;
                            for (double total : t.layerTotal()) {
                                worst = Math.max(worst, Math.abs(total - (t.fInput() - t.fBaseline())) / change);
                            }
                            layers.add(worst);
                        }
                    }
                }
                JsonObject row = new JsonObject();
                row.addProperty("n_steps", n);
                row.addProperty("ig_relative_delta_median", median(ig));
                row.addProperty("ig_relative_delta_max", max(ig));
                row.addProperty("layer_relative_error_median", median(layers));
                row.addProperty("layer_relative_error_max", max(layers));
                rows.add(row);
                out.printf(Locale.ROOT, "%-8d %-14.2e %-14.2e %-14.2e %-14.2e%n", n, median(ig), max(ig),
                        median(layers), max(layers));
            }
        }
        result.add("rows", rows);
        if (a.has("json")) {
            OutputFiles.write(a.path("json"), Json.PRETTY.toJson(result) + "\n");
        }
        return 0;
    }

    private static double median(List<Double> v) {
        double[] s = v.stream().mapToDouble(d -> d).sorted().toArray();
        return s.length == 0 ? Double.NaN : s[s.length / 2];
    }

    private static double max(List<Double> v) {
        return v.stream().mapToDouble(d -> d).max().orElse(Double.NaN);
    }
}
