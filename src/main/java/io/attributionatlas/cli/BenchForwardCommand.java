package io.attributionatlas.cli;

import io.attributionatlas.schema.Json;
import ai.djl.ndarray.NDManager;
import com.google.gson.JsonObject;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.SpecialTokens;
import io.attributionatlas.model.TransformerModel;
import java.io.PrintStream;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;
import java.util.Set;

/**
 * {@code atlas bench-forward}: forward-pass throughput (sequences per second) for full batches of one
 * length, on random non-special token ids framed by [CLS] … [SEP]; prints and writes a JSON result.
 */
final class BenchForwardCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "bench-forward " + ModelOptions.USAGE + " [--batch-size 32] [--length 128] [--iterations 10] [--warmup 3]"
                + " [--json OUT.json]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, ModelOptions.names("batch-size", "length", "iterations", "warmup", "json"));
        int batchSize = a.integer("batch-size", 32, 1);
        int length = a.integer("length", 128, 2);
        int iterations = a.integer("iterations", 10, 1);
        int warmup = a.integer("warmup", 3, 0);
        try (Predictor predictor = ModelOptions.open(a)) {
            TransformerModel model = predictor.model();
            if (length > model.config().maxLength()) {
                throw new UsageException("--length " + length + " exceeds the model's maximum length "
                        + model.config().maxLength());
            }
            EncodedBatch batch = randomBatch(predictor, batchSize, length);
            for (int i = 0; i < warmup; i++) {
                forward(model, batch);
            }
            double[] seconds = new double[iterations];
            for (int i = 0; i < iterations; i++) {
                long t0 = System.nanoTime();
                forward(model, batch);
                seconds[i] = (System.nanoTime() - t0) / 1e9;
            }
            double total = Arrays.stream(seconds).sum();
            double[] sorted = seconds.clone();
            Arrays.sort(sorted);
            JsonObject result = new JsonObject();
            result.addProperty("benchmark", "forward");
            result.addProperty("model", a.path("model").toAbsolutePath().normalize().toString());
            result.addProperty("architecture", model.config().family().modelType());
            result.addProperty("layers", model.config().numLayers());
            result.addProperty("hidden_size", model.config().hiddenSize());
            result.addProperty("batch_size", batchSize);
            result.addProperty("length", length);
            result.addProperty("iterations", iterations);
            result.addProperty("warmup", warmup);
            result.addProperty("seconds_total", total);
            result.addProperty("seconds_per_batch_median", sorted[iterations / 2]);
            result.addProperty("sequences_per_second", batchSize * iterations / total);
            result.addProperty("tokens_per_second", (double) batchSize * length * iterations / total);
            result.addProperty("cpu_cores", Runtime.getRuntime().availableProcessors());
            result.addProperty("device", model.manager().getDevice().toString());
            result.addProperty("precision", model.precision().cliName());
            String json = Json.PRETTY.toJson(result);
            out.println(json);
            if (a.has("json")) {
                OutputFiles.write(a.path("json"), json + "\n");
            }
            err.printf(Locale.ROOT, "forward throughput: %.1f sequences/s (batch %d, length %d)%n",
                    batchSize * iterations / total, batchSize, length);
        }
        return 0;
    }

    private static void forward(TransformerModel model, EncodedBatch batch) {
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forward(batch, ForwardOptions.predictOnly(), scope);
            // Reading the output back makes the timing include the whole computation.
            (r.logits() != null ? r.logits() : r.lastHiddenState()).toType(
                    ai.djl.ndarray.types.DataType.FLOAT32, false).toFloatArray();
        }
    }

    private static EncodedBatch randomBatch(Predictor predictor, int batchSize, int length) {
        SpecialTokens special = predictor.tokenizer().specialTokens();
        int vocab = predictor.model().config().vocabSize();
        Random random = new Random(1);
        long[] ids = new long[batchSize * length];
        for (int b = 0; b < batchSize; b++) {
            for (int j = 0; j < length; j++) {
                long id;
                do {
                    id = random.nextInt(vocab);
                } while (special.isSpecial(id));
                ids[b * length + j] = j == 0 ? special.cls() : j == length - 1 ? special.sep() : id;
            }
        }
        long[] ones = new long[ids.length];
        Arrays.fill(ones, 1);
        return new EncodedBatch(batchSize, length, ids, new long[ids.length], ones);
    }
}
