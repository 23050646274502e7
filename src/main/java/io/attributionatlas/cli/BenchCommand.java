package io.attributionatlas.cli;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import io.attributionatlas.analysis.CorpusStatistics;
import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.AttributionMethods;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.Sample;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.RandomModels;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.schema.Json;
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
 * matrix-multiply GFLOP/s measured in the same run, and peak resident memory; the job's per-sample statistics
 * beside them ({@code statistics_ms_per_sample}), also on a BERT-base-shaped model when asked. Writes a JSON result.
 */
final class BenchCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "bench " + ModelOptions.USAGE + " --input FILE.csv|FILE.jsonl [--samples N] [--naive-samples 8]"
                + " [--n-steps 50] [--min-tokens 17] [--max-tokens 23] [--long-tokens 128] [--long-samples N]"
                + " [--internal-batch-size auto|N] [--memory-mb auto|MB] [--lengths 32,64,128,256,512]"
                + " [--length-samples 2] [--methods LIST [--methods-only true]] [--bert-base-shape false|true]"
                + " [--json OUT.json]";
    }

    /** Samples per measurement when --samples is not given: a few passes' worth on the device. */
    private static final int CPU_SAMPLES = 32;
    private static final int GPU_SAMPLES = 512;

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, ModelOptions.names("input", "samples", "naive-samples", "n-steps",
                "min-tokens", "max-tokens", "long-tokens", "long-samples", "internal-batch-size", "memory-mb",
                "lengths", "length-samples", "methods", "methods-only", "bert-base-shape", "json"));
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
            List<Sample> shortSamples = samplesOf(predictor, base, inputs);
            // --methods-only: the methods' own costs, without the engine's sets (minutes on a CPU)
            boolean sets = !(a.has("methods") && Boolean.parseBoolean(a.has("methods-only") ? a.get("methods-only")
                    : "false"));
            if (sets) {
                measure(predictor, copy(base).analyses(full), samplesOf(predictor, base, inputs.subList(0, 4)), 0, 0,
                        matmul); // warm-up
                result.add("short_inputs", measureSet(predictor, base, full, shortSamples, naiveSamples, matmul));
            }
            if (sets && longTokens > 0) {
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
            if (sets && Boolean.parseBoolean(a.has("bert-base-shape") ? a.get("bert-base-shape") : "false")) {
                result.add("bert_base_shape", bertBaseShape(predictor, a.path("model"), base, texts,
                        longTokens > 0 ? longTokens : 128, matmul));
            }
            result.addProperty("peak_rss_mb", peakResidentMegabytes());
            if (gpu) {
                java.lang.management.MemoryUsage usage = ai.djl.util.cuda.CudaUtils.getGpuMemory(
                        predictor.model().manager().getDevice());
                result.addProperty("gpu_memory_in_use_mb", usage.getUsed() / 1048576.0); // PyTorch's cache included
            }
            if (a.has("methods")) {
                JsonObject methods = new JsonObject();
                for (AttributionMethod m : AttributionMethods.parseList(a.get("methods"))) {
                    methods.add(m.name(), measureMethod(predictor, copy(base), shortSamples, m));
                }
                result.add("methods", methods);
            }
            if (sets && !lengths.isEmpty()) {
                result.add("lengths", lengthSweep(predictor, copy(base).analyses(Analysis.all()), texts, lengths,
                        lengthSamples));
            }
        }
        String json = Json.PRETTY.toJson(result);
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
        // as the job runs them: the per-head statistics reduced on the device, no [L][H][S][S] copies to the host;
        // and as explain runs them, with the copies
        List<Sample> withoutMatrices = samples.stream().map(Sample::withoutMatrices).toList();
        JsonObject forward = measure(predictor, copy(base).analyses(Analysis.forwardOnly()), withoutMatrices, 1,
                forwardFlops, matmul);
        JsonObject forwardWithMatrices = measure(predictor, copy(base).analyses(Analysis.forwardOnly()), samples, 1,
                forwardFlops, matmul);
        JsonObject ig = measure(predictor, copy(base).analyses(Set.of(Analysis.INTEGRATED_GRADIENTS)), samples,
                1 + 2.0 * rows, forwardFlops, matmul);
        JsonObject single = measure(predictor, copy(base).analyses(full), samples, 1 + 2.0 * rows, forwardFlops,
                matmul);
        JsonObject naive = measure(predictor, copy(base).analyses(full).strategy(AttributionOptions.Strategy.NAIVE),
                samples.subList(0, Math.min(naiveSamples, samples.size())), 1 + 2.0 * rows * (1 + 2 * layers),
                forwardFlops, matmul);
        set.add("forward_only", forward);
        set.add("forward_only_with_matrices", forwardWithMatrices);
        set.add("integrated_gradients", ig);
        set.add("full_single_pass", single);
        set.add("full_naive", naive);
        set.addProperty("speedup_single_vs_naive", naive.get("seconds_per_sample").getAsDouble()
                / single.get("seconds_per_sample").getAsDouble());
        addStatistics(set, predictor, base, samples, single);
        return set;
    }

    /**
     * The job's statistics beside the full single pass: at the device's head-similarity rate (auto), and on a CPU
     * also with every sample's similarity (exact); {@code statistics_ms_per_sample} is the first.
     */
    private static void addStatistics(JsonObject set, Predictor predictor, AttributionOptions base,
            List<Sample> samples, JsonObject single) {
        double singleMs = single.get("ms_per_sample").getAsDouble();
        double autoRate = copy(base).headSimilarityRate(AttributionOptions.AUTO_RATE)
                .headSimilarityRate(predictor.model().manager().getDevice());
        JsonObject auto = measureStatistics(predictor, base, samples, autoRate, singleMs);
        set.add("statistics", auto);
        set.addProperty("statistics_ms_per_sample", auto.get("statistics_ms_per_sample").getAsDouble());
        if (autoRate < 1) {
            set.add("statistics_exact_similarity", measureStatistics(predictor, base, samples, 1, singleMs));
        }
    }

    /**
     * What the job's per-sample statistics cost, on samples without host matrices as the job runs them: the per-head
     * reductions and head similarity (at {@code similarityRate}) inside the engine, plus the host's merge of the
     * results into {@link CorpusStatistics}. On a CPU the engine times its reductions itself (they run synchronously);
     * on a GPU their kernels run asynchronously, so the passes are timed with and without them (twice each, the
     * faster kept) and the difference counts.
     */
    private static JsonObject measureStatistics(Predictor predictor, AttributionOptions base, List<Sample> samples,
            double similarityRate, double fullSinglePassMs) {
        List<Sample> job = samples.stream().map(Sample::withoutMatrices).toList();
        AttributionOptions with = copy(base).analyses(Analysis.all()).headSimilarityRate(similarityRate);
        List<io.attributionatlas.attribution.SampleAttribution> results = new ArrayList<>();
        double[] run = timed(predictor, with, job, results);
        JsonObject o = new JsonObject();
        o.addProperty("head_similarity_sample_rate", similarityRate);
        o.addProperty("engine_with_statistics_ms_per_sample", run[0]);
        double deviceMs = run[1];
        if (predictor.model().manager().getDevice().isGpu()) {
            AttributionOptions without = copy(base).analyses(Analysis.all()).headStatistics(false);
            double withMs = Math.min(run[0], timed(predictor, with, job, null)[0]);
            double withoutMs = Math.min(timed(predictor, without, job, null)[0], timed(predictor, without, job,
                    null)[0]);
            o.addProperty("engine_with_statistics_ms_per_sample", withMs);
            o.addProperty("engine_without_statistics_ms_per_sample", withoutMs);
            deviceMs = Math.max(0, withMs - withoutMs);
        }
        ModelConfig c = predictor.model().config();
        double hostMs = Double.MAX_VALUE;
        for (int repeat = 0; repeat < 3; repeat++) {
            CorpusStatistics statistics = new CorpusStatistics(c.numLayers(), c.numHeads());
            long t0 = System.nanoTime();
            results.forEach(statistics::add);
            statistics.compact();
            hostMs = Math.min(hostMs, (System.nanoTime() - t0) / 1e6 / results.size());
        }
        o.addProperty("device_statistics_ms_per_sample", deviceMs);
        o.addProperty("host_statistics_ms_per_sample", hostMs);
        o.addProperty("statistics_ms_per_sample", deviceMs + hostMs);
        o.addProperty("share_of_full_single_pass", (deviceMs + hostMs) / fullSinglePassMs);
        return o;
    }

    /**
     * One run after a warm-up: {milliseconds per sample, of which the engine's reductions (its own timer)}; the
     * results go to {@code into} when given.
     */
    private static double[] timed(Predictor predictor, AttributionOptions options, List<Sample> samples,
            List<io.attributionatlas.attribution.SampleAttribution> into) {
        try (Explainer explainer = new Explainer(predictor, options)) {
            explainer.attribute(samples.subList(0, Math.min(2, samples.size()))); // warm-up
            double before = explainer.reductionSeconds();
            long t0 = System.nanoTime();
            List<io.attributionatlas.attribution.SampleAttribution> results = explainer.attribute(samples);
            double ms = (System.nanoTime() - t0) / 1e6 / samples.size();
            if (into != null) {
                into.addAll(results);
            }
            return new double[] {ms, (explainer.reductionSeconds() - before) * 1e3 / samples.size()};
        }
    }

    /**
     * The full single pass and the job's statistics on a BERT-base-shaped model (12 layers, 12 heads, hidden 768)
     * with seeded random weights and {@code model}'s tokenizer, written to a temporary directory, at
     * {@code tokens} tokens: two samples.
     */
    private static JsonObject bertBaseShape(Predictor like, Path model, AttributionOptions base,
            List<TextInput> texts, int tokens, double matmul) throws IOException {
        Path dir = Files.createTempDirectory("atlas-bert-base-shape");
        try {
            RandomModels.bertBaseShape(model, dir, 42);
            try (Predictor predictor = Predictor.open(dir, null, like.model().manager().getDevice(),
                    like.model().precision())) {
                List<Sample> samples = new ArrayList<>();
                try (Explainer explainer = new Explainer(predictor, copy(base))) {
                    for (int k = 0; k < 2; k++) {
                        samples.add(sampleOfLength(explainer, texts, k * 7, tokens));
                    }
                }
                ModelConfig config = predictor.model().config();
                int rows = base.sweepPoints().alphas().length;
                JsonObject o = new JsonObject();
                o.addProperty("layers", config.numLayers());
                o.addProperty("heads", config.numHeads());
                o.addProperty("hidden", config.hiddenSize());
                o.addProperty("tokens", tokens);
                JsonObject single = measure(predictor, copy(base).analyses(EnumSet.of(Analysis.INTEGRATED_GRADIENTS,
                        Analysis.LAYER_CONDUCTANCE, Analysis.ATTENTION_CONDUCTANCE)), samples, 1 + 2.0 * rows,
                        forwardFlops(config, tokens), matmul);
                o.add("full_single_pass", single);
                addStatistics(o, predictor, base, samples, single);
                return o;
            }
        } finally {
            try (java.util.stream.Stream<Path> files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            }
        }
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
            explainer.attribute(samples.subList(0, Math.min(2, samples.size()))); // warm-up
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
            AttributionMethod method) throws IOException {
        try (Explainer explainer = new Explainer(predictor, options.analyses(Set.of()).methods(List.of(method)))) {
            explainer.attribute(samples.subList(0, Math.min(2, samples.size()))); // warm-up
            resetPeakResident();
            long t0 = System.nanoTime();
            List<io.attributionatlas.attribution.SampleAttribution> results = explainer.attribute(samples);
            double perSample = (System.nanoTime() - t0) / 1e9 / samples.size();
            long forward = 0;
            long backward = 0;
            for (io.attributionatlas.attribution.SampleAttribution s : results) {
                for (io.attributionatlas.attribution.TargetAttribution t : s.targets()) {
                    forward += t.methods().get(method.name()).forwardPasses();
                    backward += t.methods().get(method.name()).backwardPasses();
                }
            }
            JsonObject o = new JsonObject();
            o.addProperty("samples", samples.size());
            o.addProperty("seconds_per_sample", perSample);
            o.addProperty("forward_passes_per_sample", forward / (double) samples.size());
            o.addProperty("backward_passes_per_sample", backward / (double) samples.size());
            o.addProperty("ms_per_sample", perSample * 1e3);
            o.addProperty("peak_rss_mb", peakResidentMegabytes()); // since the warm-up, of the process
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
