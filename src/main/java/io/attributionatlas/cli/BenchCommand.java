package io.attributionatlas.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.attribution.Method;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

import java.util.Set;

/**
 * {@code atlas bench}: explanation throughput on real sentences for forward-only analyses, integrated
 * gradients alone, and integrated gradients + conductance of every layer + attention conductance by the
 * single pass and by Captum's naive one-sweep-per-quantity strategy; achieved GFLOP/s against the
 * matrix-multiply GFLOP/s measured in the same run, and peak resident memory. Writes a JSON result.
 */
final class BenchCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "bench " + ModelOptions.USAGE + " --input FILE.csv|FILE.jsonl [--samples N] [--naive-samples 8]"
                + " [--n-steps 50] [--min-tokens 17] [--max-tokens 23] [--long-tokens 128] [--long-samples N]"
                + " [--internal-batch-size auto|N] [--memory-mb auto|MB] [--lengths 32,64,128,256,512]"
                + " [--length-samples 2] [--methods LIST] [--json OUT.json]";
    }

    /** Samples per measurement when --samples is not given: a few passes' worth on the device. */
    private static final int CPU_SAMPLES = 32;
    private static final int GPU_SAMPLES = 512;

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, ModelOptions.names("input", "samples", "naive-samples", "n-steps",
                "min-tokens", "max-tokens", "long-tokens", "long-samples", "internal-batch-size", "memory-mb",
                "lengths", "length-samples", "methods", "json"));
        int naiveSamples = a.integer("naive-samples", 8, 1);
        int steps = a.integer("n-steps", 50, 2);
        int minTokens = a.integer("min-tokens", 17, 3);
        int maxTokens = a.integer("max-tokens", 23, minTokens);
        int longTokens = a.integer("long-tokens", 128, 0);
        int lengthSamples = a.integer("length-samples", 2, 1);
        List<Integer> lengths = a.has("lengths") ? parseLengths(a.get("lengths")) : List.of();
        List<TextInput> texts = LocalCorpus.read(a.path("input"));
        JsonObject result = new JsonObject();
        try (Predictor predictor = ModelOptions.open(a)) {
            boolean gpu = predictor.model().manager().getDevice().isGpu();
            int samples = a.integer("samples", gpu ? GPU_SAMPLES : CPU_SAMPLES, 2);
            AttributionOptions base = AttributionOptions.defaults().nSteps(steps);
            for (String key : new String[] {"internal-batch-size", "memory-mb"}) {
                if (a.has(key)) {
                    try {
                        base.set(key.replace('-', '_'), a.get(key));
                    } catch (IllegalArgumentException e) {
                        throw new UsageException(e.getMessage());
                    }
                }
            }
            List<TextInput> sentences = new ArrayList<>();
            for (TextInput t : texts) {
                int n = predictor.encode(t).length();
                if (n >= minTokens && n <= maxTokens) {
                    sentences.add(t);
                }
            }
            if (sentences.size() < 2) {
                throw new UsageException("only " + sentences.size() + " input texts have " + minTokens + ".." + maxTokens
                        + " tokens");
            }
            List<TextInput> inputs = new ArrayList<>(); // repeated when the input has fewer: the timing is the same
            for (int i = 0; i < samples; i++) {
                TextInput t = sentences.get(i % sentences.size());
                inputs.add(new TextInput(t.id() + "#" + i, t.text(), t.textPair()));
            }
            ModelConfig config = predictor.model().config();
            double matmul = matmulGflops(predictor);
            result.addProperty("model", a.path("model").toAbsolutePath().normalize().toString());
            result.addProperty("device", predictor.model().manager().getDevice().toString());
            result.addProperty("precision", predictor.model().precision().cliName());
            result.addProperty("n_steps", steps);
            result.addProperty("cpu_cores", Runtime.getRuntime().availableProcessors());
            result.addProperty("matmul_gflops", matmul);
            try (Explainer explainer = new Explainer(predictor, copy(base))) {
                result.addProperty("memory_mb", explainer.budget().megabytes());
                result.addProperty("internal_batch_size", explainer.budget().maxRows());
            }
            Set<Analysis> full = EnumSet.of(Analysis.INTEGRATED_GRADIENTS, Analysis.LAYER_CONDUCTANCE,
                    Analysis.ATTENTION_CONDUCTANCE);
            measure(predictor, copy(base).analyses(full), samplesOf(predictor, base, inputs.subList(0, 4)), 0, 0,
                    matmul); // warm-up
            List<Sample> shortSamples = samplesOf(predictor, base, inputs);
            result.add("short_inputs", measureSet(predictor, base, full, shortSamples, naiveSamples, matmul));
            if (longTokens > 0) {
                if (longTokens > config.maxLength()) {
                    throw new UsageException("--long-tokens: " + longTokens + " is more than the model's "
                            + config.maxLength() + " tokens");
                }
                int longCount = a.integer("long-samples", Math.max(2, samples / 4), 2);
                List<Sample> longSamples = new ArrayList<>();
                try (Explainer explainer = new Explainer(predictor, copy(base))) {
                    for (int k = 0; k < longCount; k++) {
                        longSamples.add(sampleOfLength(explainer, texts, k * 7, longTokens));
                    }
                }
                result.add("long_inputs", measureSet(predictor, base, full, longSamples, Math.min(naiveSamples,
                        longCount), matmul));
            }
            result.addProperty("peak_rss_mb", peakResidentMegabytes());
            if (gpu) {
                java.lang.management.MemoryUsage usage = ai.djl.util.cuda.CudaUtils.getGpuMemory(
                        predictor.model().manager().getDevice());
                result.addProperty("gpu_memory_in_use_mb", usage.getUsed() / 1048576.0); // PyTorch's cache included
            }
            if (a.has("methods")) {
                JsonObject methods = new JsonObject();
                for (Method m : Method.parseList(a.get("methods"))) {
                    methods.add(m.cliName(), measureMethod(predictor, copy(base), shortSamples, m));
                }
                result.add("methods", methods);
            }
            if (!lengths.isEmpty()) {
                result.add("lengths", lengthSweep(predictor, copy(base).analyses(Analysis.all()), texts, lengths,
                        lengthSamples));
            }
        }
        String json = new GsonBuilder().setPrettyPrinting().create().toJson(result);
        out.println(json);
        if (a.has("json")) {
            OutputFiles.write(a.path("json"), json + "\n");
        }
        return 0;
    }

    /**
     * Forward-only analyses, IG alone, and IG + every layer's conductance + attention conductance by the single
     * pass and by the naive strategy, on the same samples (the naive one on the first {@code naiveSamples}), each
     * with the rows per pass the memory budget chose; achieved GFLOP/s against the measured matrix-multiply rate.
     */
    private static JsonObject measureSet(Predictor predictor, AttributionOptions base, Set<Analysis> full,
            List<Sample> samples, int naiveSamples, double matmul) {
        ModelConfig config = predictor.model().config();
        double tokens = samples.stream().mapToInt(Sample::length).average().orElse(0);
        double forwardFlops = forwardFlops(config, tokens);
        int layers = config.numLayers();
        int rows = base.sweepPoints().alphas().length;
        JsonObject set = new JsonObject();
        set.addProperty("samples", samples.size());
        set.addProperty("naive_samples", naiveSamples);
        set.addProperty("mean_tokens", tokens);
        set.addProperty("forward_gflop_per_sample", forwardFlops / 1e9);
        // Work per sample in forward-pass equivalents. The weights are constants here, so a backward pass
        // computes input gradients only (about one forward's matrix products): forward+backward ≈ 2 forwards.
        JsonObject forward = measure(predictor, copy(base).analyses(Analysis.forwardOnly()), samples, 1, forwardFlops,
                matmul);
        JsonObject ig = measure(predictor, copy(base).analyses(Set.of(Analysis.INTEGRATED_GRADIENTS)), samples,
                1 + 2.0 * rows, forwardFlops, matmul);
        JsonObject single = measure(predictor, copy(base).analyses(full), samples, 1 + 2.0 * rows, forwardFlops,
                matmul);
        JsonObject naive = measure(predictor, copy(base).analyses(full).strategy(AttributionOptions.Strategy.NAIVE),
                samples.subList(0, Math.min(naiveSamples, samples.size())), 1 + 2.0 * rows * (1 + 2 * layers),
                forwardFlops, matmul);
        set.add("forward_only", forward);
        set.add("integrated_gradients", ig);
        set.add("full_single_pass", single);
        set.add("full_naive", naive);
        set.addProperty("speedup_single_vs_naive", naive.get("seconds_per_sample").getAsDouble()
                / single.get("seconds_per_sample").getAsDouble());
        return set;
    }

    private static List<Sample> samplesOf(Predictor predictor, AttributionOptions base, List<TextInput> inputs) {
        try (Explainer explainer = new Explainer(predictor, copy(base))) {
            return inputs.stream().map(i -> explainer.sample(i, null)).toList();
        }
    }

    private static AttributionOptions copy(AttributionOptions o) {
        return AttributionOptions.defaults().nSteps(o.nSteps()).internalBatchSize(o.internalBatchSize())
                .memoryMb(o.memoryMb());
    }

    private static List<Integer> parseLengths(String list) {
        List<Integer> lengths = new ArrayList<>();
        for (String part : list.split(",")) {
            try {
                int n = Integer.parseInt(part.trim());
                if (n < 3) {
                    throw new NumberFormatException();
                }
                lengths.add(n);
            } catch (NumberFormatException e) {
                throw new UsageException("--lengths: expected token counts of at least 3, got '" + part + "'");
            }
        }
        return lengths;
    }

    /**
     * Cost against sequence length, every analysis: for each length, samples of exactly that many tokens
     * (sentences of the input concatenated, then cut, keeping the closing special token), with the rows per
     * chunk the memory budget gives and the peak resident memory of that length alone.
     */
    private static JsonArray lengthSweep(Predictor predictor, AttributionOptions options, List<TextInput> texts,
            List<Integer> lengths, int perLength) throws IOException {
        JsonArray out = new JsonArray();
        int max = predictor.model().config().maxLength();
        try (Explainer explainer = new Explainer(predictor, options)) {
            for (int length : lengths) {
                if (length > max) {
                    throw new UsageException("--lengths: " + length + " is more than the model's " + max + " tokens");
                }
                List<Sample> samples = new ArrayList<>();
                for (int k = 0; k < perLength; k++) {
                    samples.add(sampleOfLength(explainer, texts, k * 7, length));
                }
                explainer.attribute(samples.subList(0, 1)); // warm-up at this length
                resetPeakResident();
                long t0 = System.nanoTime();
                explainer.attribute(samples);
                double seconds = (System.nanoTime() - t0) / 1e9;
                JsonObject o = new JsonObject();
                o.addProperty("tokens", length);
                o.addProperty("samples", samples.size());
                o.addProperty("seconds", seconds);
                o.addProperty("samples_per_second", samples.size() / seconds);
                o.addProperty("tokens_per_second", (double) samples.size() * length / seconds);
                o.addProperty("peak_rss_mb", peakResidentMegabytes());
                o.addProperty("chunk_rows", explainer.chunkRows(length));
                out.add(o);
            }
        }
        return out;
    }

    /** Sentences from {@code first} on, joined until they encode past {@code length} tokens, cut to exactly that. */
    private static Sample sampleOfLength(Explainer explainer, List<TextInput> texts, int first, int length) {
        StringBuilder text = new StringBuilder();
        EncodedText encoded = null;
        for (int i = 0; encoded == null || encoded.length() < length; i++) {
            if (i >= 4 * texts.size()) {
                throw new UsageException("the input texts together have fewer than " + length + " tokens");
            }
            text.append(text.length() == 0 ? "" : " ").append(texts.get((first + i) % texts.size()).text());
            encoded = explainer.sample(new TextInput("len", text.toString(), null), null).encoding();
        }
        EncodedText cut = cut(encoded, length);
        return new Sample(new TextInput("length-" + length + "-" + first, text.toString(), null), cut, null);
    }

    /** The first {@code length} − 1 tokens and the closing special token. */
    static EncodedText cut(EncodedText e, int length) {
        int last = e.length() - 1;
        long[] ids = new long[length];
        long[] types = new long[length];
        String[] tokens = new String[length];
        boolean[] special = new boolean[length];
        int[] sequence = new int[length];
        int[] words = new int[length];
        for (int i = 0; i < length; i++) {
            int from = i < length - 1 ? i : last;
            ids[i] = e.ids()[from];
            types[i] = e.typeIds()[from];
            tokens[i] = e.tokens()[from];
            special[i] = e.special()[from];
            sequence[i] = e.sequence()[from];
            words[i] = e.words()[from];
        }
        return new EncodedText(ids, types, tokens, special, sequence, words, e.truncated() || length < e.length());
    }

    /** Resets this process's peak resident memory (VmHWM), as {@code echo 5 > /proc/self/clear_refs} does. */
    private static void resetPeakResident() {
        try {
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
        } catch (IOException e) {
            // not Linux, or not allowed: the peak is then the process's since its start
        }
    }

    private static JsonObject measure(Predictor predictor, AttributionOptions options, List<Sample> samples,
            double forwardsPerSample, double forwardFlops, double matmulGflops) {
        try (Explainer explainer = new Explainer(predictor, options)) {
            explainer.attribute(samples.subList(0, 2)); // warm-up
            long t0 = System.nanoTime();
            explainer.attribute(samples);
            double seconds = (System.nanoTime() - t0) / 1e9;
            double perSample = seconds / samples.size();
            double gflops = forwardsPerSample * forwardFlops / perSample / 1e9;
            int longest = samples.stream().mapToInt(Sample::length).max().orElse(1);
            JsonObject o = new JsonObject();
            o.addProperty("samples", samples.size());
            o.addProperty("seconds", seconds);
            o.addProperty("seconds_per_sample", perSample);
            o.addProperty("ms_per_sample", perSample * 1e3);
            o.addProperty("samples_per_second", 1 / perSample);
            o.addProperty("chunk_rows", explainer.chunkRows(longest));
            o.addProperty("forward_equivalents_per_sample", forwardsPerSample);
            o.addProperty("achieved_gflops", gflops);
            o.addProperty("fraction_of_matmul_gflops", gflops / matmulGflops);
            return o;
        }
    }

    /**
     * One method alone (no other analyses; the targets come from a two-row sweep, included in the time): seconds
     * per sample and the method's own forward and backward rows per sample.
     */
    private static JsonObject measureMethod(Predictor predictor, AttributionOptions options, List<Sample> samples,
            Method method) {
        try (Explainer explainer = new Explainer(predictor, options.analyses(Set.of()).methods(List.of(method)))) {
            explainer.attribute(samples.subList(0, 2)); // warm-up
            long t0 = System.nanoTime();
            List<io.attributionatlas.attribution.SampleAttribution> results = explainer.attribute(samples);
            double perSample = (System.nanoTime() - t0) / 1e9 / samples.size();
            long forward = 0;
            long backward = 0;
            for (io.attributionatlas.attribution.SampleAttribution s : results) {
                for (io.attributionatlas.attribution.TargetAttribution t : s.targets()) {
                    forward += t.methods().get(method.cliName()).forwardPasses();
                    backward += t.methods().get(method.cliName()).backwardPasses();
                }
            }
            JsonObject o = new JsonObject();
            o.addProperty("samples", samples.size());
            o.addProperty("seconds_per_sample", perSample);
            o.addProperty("forward_passes_per_sample", forward / (double) samples.size());
            o.addProperty("backward_passes_per_sample", backward / (double) samples.size());
            return o;
        }
    }

    /** Multiply-adds × 2 of one forward pass over {@code s} tokens (matrix products only). */
    static double forwardFlops(ModelConfig c, double s) {
        double h = c.hiddenSize();
        double perLayer = 2 * s * h * h * 4 // Q, K, V, attention output
                + 2 * 2 * s * s * h // scores and context
                + 2 * 2 * s * h * c.intermediateSize(); // feed-forward
        double embedProjection = c.hasEmbeddingProjection() ? 2 * s * c.embeddingSize() * h : 0;
        return c.numLayers() * perLayer + embedProjection;
    }

    /** Measured F32 matrix-multiply throughput of this machine through the same engine (1024³ products). */
    private static double matmulGflops(Predictor predictor) {
        int n = 1024;
        try (NDManager m = predictor.model().manager().newSubManager()) {
            NDArray x = m.randomNormal(new Shape(n, n), DataType.FLOAT32);
            NDArray y = m.randomNormal(new Shape(n, n), DataType.FLOAT32);
            for (int i = 0; i < 3; i++) {
                x.matMul(y).close();
            }
            int repeats = 20;
            long t0 = System.nanoTime();
            for (int i = 0; i < repeats; i++) {
                x.matMul(y).close();
            }
            double seconds = (System.nanoTime() - t0) / 1e9;
            return 2.0 * n * n * n * repeats / seconds / 1e9;
        }
    }

    private static double peakResidentMegabytes() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024.0;
            }
        }
        return Double.NaN;
    }

}
