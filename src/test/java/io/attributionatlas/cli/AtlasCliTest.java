package io.attributionatlas.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TinyModels;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AtlasCliTest {

    @TempDir
    Path tmp;

    /** Exit status, stdout and stderr of one CLI run. */
    record Result(int status, String out, String err) {
    }

    static Result run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = AtlasCli.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Result(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** The methods' docs, explain's flags and atlas.conf's lines come from the methods' declarations. */
    @Test
    void methodsCommandListsEveryMethodAndItsOptions() {
        Result list = run("methods");
        assertEquals(0, list.status(), list.err());
        for (io.attributionatlas.attribution.AttributionMethod m : io.attributionatlas.attribution.AttributionMethods
                .all()) {
            assertTrue(list.out().contains(m.name()), m.name());
        }
        assertTrue(list.out().contains("--nt-stdev / methods.nt_stdev = 1.0"), list.out());
        Result conf = run("methods", "--conf", "true");
        assertTrue(conf.out().contains("methods.occlusion_window = 1\n"), conf.out());
        Path mpnet = Fixtures.shared().resolve("golden/hf-next/mpnet-cls");
        Result explained = run("explain", "--model", mpnet.toString(), "--text", "a warm, funny film", "--n-steps", "8",
                "--methods", "integrated_gradients,shapley_value_sampling,noise_tunnel", "--nt-type", "vargrad");
        assertEquals(0, explained.status(), explained.err());
        assertTrue(explained.out().contains("shapley_valu~") && explained.out().contains("noise_tunnel")
                && explained.out().contains("sum of words") && explained.out().contains("passes fwd/bwd"),
                explained.out());
        Result usage = run("explain");
        assertTrue(usage.err().contains("[--nt-type smoothgrad|smoothgrad_sq|vargrad]")
                && usage.err().contains("[--occlusion-window N]"), usage.err());
    }

    /** Every command answers --help (anywhere in its arguments) with its usage on stdout, exit 0, and does nothing. */
    @Test
    void everyCommandAnswersHelp() {
        assertTrue(AtlasCli.commands().size() >= 13, AtlasCli.commands().toString());
        for (String command : AtlasCli.commands()) {
            for (String[] args : new String[][] {{command, "--help"}, {command, "--model", "nowhere", "-h"}}) {
                Result r = run(args);
                assertEquals(0, r.status(), command + ": " + r.err());
                assertTrue(r.out().startsWith("usage: atlas " + command), command + ": " + r.out());
                assertTrue(r.err().isEmpty(), command + " did something: " + r.err());
            }
        }
        Result top = run("--help");
        assertEquals(0, top.status());
        assertTrue(top.out().startsWith("usage: atlas COMMAND"), top.out());
    }

    /** Every script answers --help with the usage in its leading comment, exit 0, and writes nothing. */
    @Test
    void everyScriptAnswersHelp() throws Exception {
        List<Path> scripts;
        try (var files = Files.walk(Path.of("scripts"))) {
            scripts = files.filter(f -> Files.isRegularFile(f) && Files.isExecutable(f)
                    && !f.toString().endsWith(".py") && !f.startsWith(Path.of("scripts", "lib"))).sorted().toList();
        }
        assertTrue(scripts.size() >= 8, scripts.toString());
        for (Path script : scripts) {
            Path cwd = Files.createTempDirectory(tmp, "help");
            Process p = new ProcessBuilder("bash", script.toAbsolutePath().toString(), "--help").directory(cwd.toFile())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS), script.toString());
            assertEquals(0, p.exitValue(), script + ": " + out);
            assertTrue(out.toLowerCase(java.util.Locale.ROOT).contains("usage") || out.lines().count() >= 2,
                    script + ": " + out);
            try (var left = Files.list(cwd)) {
                assertEquals(List.of(), left.toList(), script + " --help wrote files");
            }
        }
    }

    @Test
    void badArgumentsGiveUsageAndNonZeroExit() {
        Result none = run();
        assertEquals(2, none.status());
        assertTrue(none.err().contains("usage: atlas COMMAND"));
        Result unknown = run("predict", "--model", "x", "--colour", "red");
        assertEquals(2, unknown.status());
        assertTrue(unknown.err().contains("unknown option --colour") && unknown.err().contains("usage: atlas predict"),
                unknown.err());
        Result missing = run("inspect");
        assertEquals(2, missing.status());
        assertTrue(missing.err().contains("missing required option --model"), missing.err());
        Result both = run("predict", "--model", "x", "--text", "a", "--input", "f.jsonl");
        assertEquals(2, both.status());
        Result badNumber = run("bench-forward", "--model", "x", "--batch-size", "zero");
        assertEquals(2, badNumber.status());
        assertTrue(badNumber.err().contains("--batch-size must be an integer"), badNumber.err());
        assertEquals(2, run("frobnicate").status());
    }

    @Test
    void aGpuAskedForWhereNoneIsVisibleFailsWithTheReason() {
        for (List<String> command : modelCommands()) {
            List<String> args = new java.util.ArrayList<>(command);
            args.addAll(List.of("--model", Fixtures.realModel().toString(), "--device", "gpu"));
            Result r = run(args.toArray(String[]::new));
            assertEquals(2, r.status(), command + ": " + r.err());
            assertTrue(r.err().contains("a GPU was asked for, but PyTorch sees no GPU"), command + ": " + r.err());
        }
        Result bad = run("inspect", "--model", Fixtures.realModel().toString(), "--device", "tpu");
        assertEquals(2, bad.status());
        assertTrue(bad.err().contains("expected auto, cpu, gpu or gpu:N, got 'tpu'"), bad.err());
        Result cpu = run("inspect", "--model", Fixtures.realModel().toString(), "--device", "cpu");
        assertEquals(0, cpu.status(), cpu.err());
    }

    /** Every command that runs the model, with its own required arguments (the model options come after). */
    private static List<List<String>> modelCommands() {
        String corpus = Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv").toString();
        return List.of(List.of("inspect"), List.of("predict", "--text", "good"), List.of("explain", "--text", "good"),
                List.of("bench", "--input", corpus), List.of("bench-forward"), List.of("convergence", "--input", corpus));
    }

    @Test
    void precisionIsAnOptionOfEveryModelCommand() {
        for (List<String> command : modelCommands()) {
            List<String> args = new java.util.ArrayList<>(command);
            args.addAll(List.of("--model", Fixtures.realModel().toString(), "--precision", "fp8"));
            Result r = run(args.toArray(String[]::new));
            assertEquals(2, r.status(), command + ": " + r.err());
            assertTrue(r.err().contains("precision: expected fp32, tf32, bf16 or fp16, got 'fp8'"),
                    command + ": " + r.err());
        }
        Result bf16 = run("predict", "--model", Fixtures.realModel().toString(), "--text", "good", "--precision",
                "bf16");
        assertTrue(bf16.status() != 0 && bf16.err().contains("has no bfloat16") && bf16.err().contains(
                "scripts/gpu/build-bf16-jni"), bf16.err());
        Result fp16 = run("predict", "--model", Fixtures.realModel().toString(), "--text", "a good movie",
                "--precision", "fp16");
        assertEquals(0, fp16.status(), fp16.err());
        assertTrue(fp16.out().contains("prediction     POSITIVE"), fp16.out());
    }

    @Test
    void missingModelDirectoryIsNamed() {
        Result r = run("inspect", "--model", tmp.resolve("nowhere").toString());
        assertEquals(2, r.status(), "a bad model is bad input");
        Result predict = run("predict", "--model", tmp.resolve("nowhere").toString(), "--text", "good");
        assertEquals(2, predict.status(), predict.err());
        assertTrue(r.err().contains("nowhere") && r.err().contains("model directory not found"), r.err());
    }

    @Test
    void inspectsTheRealModel() {
        Result r = run("inspect", "--model", Fixtures.realModel().toString());
        assertEquals(0, r.status(), r.err());
        for (String expected : List.of("bert [BertForSequenceClassification]", "classification", "layers         6",
                "heads          12", "hidden size    384", "0=NEGATIVE, 1=POSITIVE", "22,713,986", "F16",
                "ignored keys   0")) {
            assertTrue(r.out().contains(expected), "inspect shows " + expected + ":\n" + r.out());
        }
    }

    @Test
    void predictsOneText() {
        Result r = run("predict", "--model", Fixtures.realModel().toString(), "--text",
                "A gorgeous, witty, seductive movie.");
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("[CLS] a gorgeous , witty , seductive movie . [SEP]"), r.out());
        assertTrue(r.out().contains("prediction     POSITIVE"), r.out());
    }

    @Test
    void predictsJsonLinesAndReportsBadLinesByNumber() throws Exception {
        Path in = tmp.resolve("in.jsonl");
        Files.writeString(in, String.join("\n",
                "{\"id\": \"neg\", \"text\": \"a dull, tedious mess\"}",
                "{\"text\": \"one of the best films of the year\"}",
                "not json",
                "",
                "{\"id\": 7}",
                "{\"id\": \"p\", \"text\": \"the plot\", \"text_pair\": \"was predictable\"}") + "\n");
        Path out = tmp.resolve("out/predictions.jsonl");
        Result r = run("predict", "--model", Fixtures.realModel().toString(), "--input", in.toString(), "--json",
                out.toString(), "--batch-size", "2");
        assertEquals(1, r.status(), "bad lines make the exit status 1");
        assertTrue(r.err().contains(in + ":3: not valid JSON"), r.err());
        assertTrue(r.err().contains(in + ":5: \"text\" is missing"), r.err());
        List<String> lines = Files.readAllLines(out);
        assertEquals(5, lines.size(), "one output line per input line");
        JsonObject neg = JsonParser.parseString(lines.get(0)).getAsJsonObject();
        assertEquals("neg", neg.get("id").getAsString());
        assertEquals("NEGATIVE", neg.get("label").getAsString());
        for (String key : List.of("input_ids", "token_type_ids", "tokens", "truncated", "logits", "probabilities")) {
            assertTrue(neg.has(key), key);
        }
        assertEquals("line-2", JsonParser.parseString(lines.get(1)).getAsJsonObject().get("id").getAsString());
        assertEquals(3, JsonParser.parseString(lines.get(2)).getAsJsonObject().get("line").getAsInt());
        JsonObject pair = JsonParser.parseString(lines.get(4)).getAsJsonObject();
        assertEquals(1, pair.getAsJsonArray("token_type_ids").get(pair.getAsJsonArray("token_type_ids").size() - 1)
                .getAsInt());
    }

    @Test
    void predictsQuestionAnsweringSpans() throws Exception {
        Path model = TinyModels.write(tmp.resolve("qa"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.QUESTION_ANSWERING));
        Result one = run("predict", "--model", model.toString(), "--text", "who won ?", "--text-pair",
                "the team won the game");
        assertEquals(0, one.status(), one.err());
        assertTrue(one.out().contains("answer"), one.out());
        Result noContext = run("predict", "--model", model.toString(), "--text", "who won ?");
        assertEquals(2, noContext.status());
        assertTrue(noContext.err().contains("needs --text-pair"), noContext.err());
        Path in = tmp.resolve("qa.jsonl");
        Files.writeString(in, "{\"id\": \"q\", \"text\": \"who won ?\", \"text_pair\": \"the team won the game\"}\n");
        Path out = tmp.resolve("qa-out.jsonl");
        assertEquals(0, run("predict", "--model", model.toString(), "--input", in.toString(), "--json",
                out.toString()).status());
        JsonObject o = JsonParser.parseString(Files.readAllLines(out).get(0)).getAsJsonObject();
        assertEquals(o.getAsJsonArray("tokens").size(), o.getAsJsonArray("start_logits").size());
        assertEquals(o.getAsJsonArray("tokens").size(), o.getAsJsonArray("end_logits").size());
        JsonObject answer = o.getAsJsonObject("answer");
        assertTrue(answer.get("start").getAsInt() >= 5, "answer lies in the context: " + answer);
        assertTrue(answer.has("text") && answer.has("score"));
    }

    @Test
    void benchWritesJsonResult() throws Exception {
        Path model = TinyModels.write(tmp.resolve("m"), TinyModels.Spec.of(EncoderFamilies.of("distilbert"),
                Task.SEQUENCE_CLASSIFICATION));
        Path json = tmp.resolve("bench.json");
        Result r = run("bench-forward", "--model", model.toString(), "--batch-size", "4", "--length", "16",
                "--iterations", "2", "--warmup", "1", "--json", json.toString());
        assertEquals(0, r.status(), r.err());
        JsonObject o = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        assertTrue(o.get("sequences_per_second").getAsDouble() > 0);
        assertEquals(4, o.get("batch_size").getAsInt());
        assertEquals(2, run("bench-forward", "--model", model.toString(), "--length", "999").status());
    }

    @Test
    void explainWritesConsoleJsonAndEscapedHtml() throws Exception {
        Path json = tmp.resolve("e.json");
        Path html = tmp.resolve("e.html");
        Result r = run("explain", "--model", Fixtures.realModel().toString(), "--text",
                "<script>alert('x')</script> a \"gorgeous\" film", "--n-steps", "8", "--json", json.toString(),
                "--html", html.toString());
        assertEquals(0, r.status(), r.err());
        assertTrue(r.out().contains("target       class 1 (POSITIVE)") && r.out().contains("layer total"), r.out());
        JsonObject o = JsonParser.parseString(Files.readString(json)).getAsJsonObject();
        for (String key : List.of("input_ids", "tokens", "token_type_ids", "logits", "probabilities", "attentions",
                "norms", "rollout", "head_importance", "options", "targets")) {
            assertTrue(o.has(key), "JSON has " + key);
        }
        JsonObject options = o.getAsJsonObject("options");
        assertEquals(8, options.get("points_ig").getAsInt());
        assertEquals(10, options.get("points_conductance").getAsInt());
        assertEquals("cpu()", options.get("device").getAsString());
        assertEquals("fp32", options.get("precision").getAsString());
        JsonObject target = o.getAsJsonArray("targets").get(0).getAsJsonObject();
        for (String key : List.of("name", "index", "label", "f_input", "f_baseline", "ig", "conductance",
                "grad_x_input")) {
            assertTrue(target.has(key), "target has " + key);
        }
        int tokens = o.getAsJsonArray("tokens").size();
        assertEquals(6, target.getAsJsonObject("conductance").getAsJsonArray("layer_token_sum").size());
        assertEquals(tokens, target.getAsJsonObject("ig").getAsJsonArray("token_sum").size());
        assertEquals(12, o.getAsJsonObject("norms").getAsJsonArray("fx").get(0).getAsJsonArray().size());
        String page = Files.readString(html);
        assertTrue(!page.contains("<script>alert"), "corpus text is escaped");
        assertTrue(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"));
        assertTrue(!page.contains("http://") || page.replace("http://www.w3.org/2000/svg", "").indexOf("http://") < 0,
                "no external resources");
    }

    @Test
    void explainRejectsBadOptions() {
        String model = Fixtures.realModel().toString();
        Result method = run("explain", "--model", model, "--text", "ok", "--method", "simpson");
        assertEquals(2, method.status());
        assertTrue(method.err().contains("--method: unknown method 'simpson'"), method.err());
        Result steps = run("explain", "--model", model, "--text", "ok", "--n-steps", "1");
        assertEquals(2, steps.status());
        assertTrue(steps.err().contains("n-steps"), steps.err());
        Result target = run("explain", "--model", model, "--text", "ok", "--target", "label");
        assertEquals(2, target.status(), "target=label without --label");
        assertTrue(target.err().contains("needs a label"), target.err());
        assertEquals(0, run("explain", "--model", model, "--text", "ok", "--target", "label", "--label", "NEGATIVE",
                "--n-steps", "4", "--analyses", "integrated_gradients").status());
    }
}
