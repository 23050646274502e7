package io.attributionatlas.cli;

import com.google.gson.Gson;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.report.PredictionJson;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;

/**
 * {@code atlas predict}: one text (printed) or a JSON Lines file (written as JSON Lines, one output line
 * per input line; a bad line becomes an error line, is reported with its line number, and makes the exit
 * status 1 after the good lines are written).
 */
final class PredictCommand implements AtlasCli.Command {

    private static final Gson GSON = io.attributionatlas.schema.Json.COMPACT;

    @Override
    public String usage() {
        return "predict " + ModelOptions.USAGE + " (--text TEXT [--text-pair TEXT] | --input FILE.jsonl --json"
                + " OUT.jsonl) [--batch-size N]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws IOException {
        Arguments a = new Arguments(args, 1, ModelOptions.names("text", "text-pair", "input", "json", "batch-size"));
        Path model = a.path("model");
        int batchSize = a.integer("batch-size", 32, 1);
        boolean single = a.has("text");
        if (single == a.has("input")) {
            throw new UsageException("give either --text or --input");
        }
        if (single && a.has("json")) {
            throw new UsageException("--json goes with --input; --text prints to the console");
        }
        if (!single && (a.has("text-pair") || !a.has("json"))) {
            throw new UsageException("--input needs --json OUT.jsonl (and no --text-pair: pairs are in the file)");
        }
        if (single && a.get("text").isBlank()) {
            throw new UsageException("--text is empty");
        }
        List<Line> parsed = single ? List.of(new Line(0, new TextInput("text", a.get("text"), a.get("text-pair")),
                null)) : readLines(a.path("input"));
        try (Predictor predictor = ModelOptions.open(a)) {
            boolean qa = predictor.model().config().task() == Task.QUESTION_ANSWERING;
            List<Line> lines = parsed.stream().map(l -> l.error == null && qa && l.input.textPair() == null
                    ? new Line(l.number, l.input, "a question-answering model needs text_pair (the context)", null) : l)
                    .toList();
            if (single && lines.get(0).error != null) {
                throw new UsageException("a question-answering model needs --text-pair (the context)");
            }
            List<TextInput> good = lines.stream().filter(l -> l.error == null).map(Line::input).toList();
            List<Prediction> predictions = predictor.predict(good, batchSize);
            if (single) {
                print(predictions.get(0), predictor.model().config().labels(), out);
                return 0;
            }
            return write(lines, predictions, a.path("input"), a.path("json"), err);
        }
    }

    /** One input line: its number (1-based), the parsed input, or why it could not be parsed. */
    private record Line(int number, TextInput input, String error, String label) {
        Line(int number, TextInput input, String error) {
            this(number, input, error, null);
        }
    }

    private static List<Line> readLines(Path file) throws IOException {
        List<String> raw;
        try {
            raw = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            throw new UsageException("input file not found: " + file);
        }
        List<Line> lines = new ArrayList<>();
        for (int i = 0; i < raw.size(); i++) {
            if (!raw.get(i).isBlank()) {
                lines.add(parse(i + 1, raw.get(i)));
            }
        }
        return lines;
    }

    private static Line parse(int number, String text) {
        JsonObject o;
        try {
            JsonElement e = JsonParser.parseString(text);
            if (!e.isJsonObject()) {
                return new Line(number, null, "expected a JSON object with \"text\"");
            }
            o = e.getAsJsonObject();
        } catch (RuntimeException e) {
            java.util.regex.Matcher at = java.util.regex.Pattern.compile("column (\\d+)")
                    .matcher(String.valueOf(e.getMessage()));
            return new Line(number, null, "not valid JSON" + (at.find() ? " (at column " + at.group(1) + ")" : ""));
        }
        String id = o.has("id") && o.get("id").isJsonPrimitive() ? o.get("id").getAsString() : "line-" + number;
        JsonElement t = o.get("text");
        if (t == null || !t.isJsonPrimitive() || !t.getAsJsonPrimitive().isString()) {
            return new Line(number, new TextInput(id, null, null), "\"text\" is missing or not a string");
        }
        if (t.getAsString().isBlank()) {
            return new Line(number, new TextInput(id, null, null), "\"text\" is empty");
        }
        JsonElement pair = o.get("text_pair");
        if (pair != null && !pair.isJsonNull() && (!pair.isJsonPrimitive() || !pair.getAsJsonPrimitive().isString())) {
            return new Line(number, new TextInput(id, null, null), "\"text_pair\" is not a string");
        }
        JsonElement label = o.get("label");
        return new Line(number, new TextInput(id, t.getAsString(), pair == null || pair.isJsonNull() ? null
                : pair.getAsString()), null, label != null && label.isJsonPrimitive() ? label.getAsString() : null);
    }

    private static int write(List<Line> lines, List<Prediction> predictions, Path input, Path json, PrintStream err)
            throws IOException {
        int next = 0;
        int bad = 0;
        int labelled = 0;
        int agree = 0;
        OutputFiles.createParent(json);
        try (BufferedWriter w = Files.newBufferedWriter(json, StandardCharsets.UTF_8)) {
            for (Line line : lines) {
                JsonObject o;
                if (line.error != null) {
                    bad++;
                    err.println(input + ":" + line.number + ": " + line.error);
                    o = new JsonObject();
                    if (line.input != null) {
                        o.addProperty("id", line.input.id());
                    }
                    o.addProperty("line", line.number);
                    o.addProperty("error", line.error);
                } else {
                    Prediction p = predictions.get(next++);
                    o = PredictionJson.add(new JsonObject(), p);
                    if (line.label != null && p.label() != null) {
                        labelled++;
                        agree += line.label.equals(p.label()) || line.label.equals(Integer.toString(p.labelIndex()))
                                ? 1 : 0;
                    }
                }
                w.write(GSON.toJson(o));
                w.newLine();
            }
        }
        err.printf(Locale.ROOT, "atlas predict: %d inputs, %d predicted, %d bad lines -> %s%n", lines.size(),
                lines.size() - bad, bad, json);
        if (labelled > 0) {
            err.printf(Locale.ROOT, "atlas predict: accuracy on the %d labelled inputs: %d/%d = %.4f%n", labelled,
                    agree, labelled, agree / (double) labelled);
        }
        return bad == 0 ? 0 : 1;
    }

    private static void print(Prediction p, List<String> labelNames, PrintStream out) {
        EncodedText e = p.encoding();
        out.println("tokens         " + String.join(" ", e.tokens()) + (e.truncated() ? "  (truncated)" : ""));
        if (p.logits() != null) {
            for (int i = 0; i < p.logits().length; i++) {
                out.printf(Locale.ROOT, "  %-12s logit %9.4f   probability %.4f%n", labelNames.get(i), p.logits()[i],
                        p.probabilities()[i]);
            }
            out.printf(Locale.ROOT, "prediction     %s (p = %.4f)%n", p.label(), p.probabilities()[p.labelIndex()]);
        } else if (p.startLogits() != null) {
            Prediction.AnswerSpan s = p.answer();
            out.printf(Locale.ROOT, "answer         \"%s\" (tokens %d..%d, score %.4f; no-answer score %.4f)%n",
                    s.text(), s.start(), s.end(), s.score(), s.noAnswerScore());
        } else {
            out.println("(encoder model: no task head; use the hidden states through the API)");
        }
    }
}
