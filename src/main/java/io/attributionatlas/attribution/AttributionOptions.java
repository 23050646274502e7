package io.attributionatlas.attribution;

import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import io.attributionatlas.attribution.sweep.IntegrationMethod;
import io.attributionatlas.attribution.sweep.PathPoints;
import io.attributionatlas.attribution.sweep.SweepPoints;
import java.util.EnumSet;
import java.util.Set;

/** Options of an explanation, with Captum's names and defaults where Captum has them. */
public final class AttributionOptions {

    /** How conductance of all layers is computed: one sweep for everything, or Captum's one sweep per layer. */
    public enum Strategy {
        SINGLE_PASS, NAIVE
    }

    private IntegrationMethod method = IntegrationMethod.GAUSS_LEGENDRE;
    private int nSteps = 50;
    private ConductanceRule conductance = ConductanceRule.QUADRATIC;
    private Baseline baseline = Baseline.PAD;
    private TargetSpec target = TargetSpec.PREDICTED;
    private Output output = Output.LOGIT;
    private QaReduction qaReduction = QaReduction.INDEX;
    private int internalBatchSize = AUTO;
    private int memoryMb = AUTO;
    private Strategy strategy = Strategy.SINGLE_PASS;
    private Set<Analysis> analyses = Analysis.all();
    private java.util.List<AttributionMethod> methods = java.util.List.of();
    private int samples;
    private long seed;
    private boolean faithfulness;
    private double headSimilarityRate;
    private boolean headStatistics = true;
    private int[] embeddingLayers = new int[0];
    /** The methods' own options set so far, by key (parsed); the rest take their declared defaults. */
    private final java.util.Map<String, Object> methodOptions = new java.util.HashMap<>();

    /**
     * internal_batch_size and memory_mb "auto": chosen for the model's device by {@link MemoryBudget#of} (on a CPU
     * 64 rows and 2048 MB; on a GPU 2048 rows and a share of its free memory).
     */
    public static final int AUTO = 0;

    public static AttributionOptions defaults() {
        return new AttributionOptions();
    }

    /** The engine's own configuration keys, as in conf/ and on the command line (with dashes for underscores). */
    private static final java.util.List<String> OWN_KEYS = java.util.List.of("method", "n_steps", "conductance",
            "baseline", "target", "output", "qa_reduction", "internal_batch_size", "memory_mb", "strategy", "analyses",
            "methods", "n_samples", "seed", "faithfulness");

    /** Every configuration key: the engine's, then each registered method's options ({@link AttributionMethods}). */
    public static final java.util.List<String> KEYS = keys();

    private static java.util.List<String> keys() {
        java.util.List<String> keys = new java.util.ArrayList<>(OWN_KEYS);
        AttributionMethods.options().forEach(o -> keys.add(o.key()));
        return java.util.List.copyOf(keys);
    }

    /**
     * Sets one option from its configuration key and text value, e.g. {@code ("n_steps", "16")} or
     * {@code ("analyses", "attention,norms,rollout")}; unknown keys and bad values throw
     * IllegalArgumentException naming the key.
     */
    public AttributionOptions set(String key, String value) {
        try {
            switch (key) {
                case "method" -> method(IntegrationMethod.parse(value));
                case "n_steps" -> nSteps(Integer.parseInt(value.trim()));
                case "conductance" -> conductance(ConductanceRule.parse(value));
                case "baseline" -> baseline(Baseline.parse(value));
                case "target" -> target(TargetSpec.parse(value));
                case "output" -> output(Output.parse(value));
                case "qa_reduction" -> qaReduction(QaReduction.parse(value));
                case "internal_batch_size" -> internalBatchSize(parseAuto(value));
                case "memory_mb" -> memoryMb(parseAuto(value));
                case "strategy" -> strategy(Strategy.valueOf(value.trim().toUpperCase(java.util.Locale.ROOT)
                        .replace('-', '_')));
                case "analyses" -> analyses(parseAnalyses(value));
                case "methods" -> methods(AttributionMethods.parseList(value));
                case "n_samples" -> samples(Integer.parseInt(value.trim()));
                case "seed" -> seed(Long.parseLong(value.trim()));
                case "faithfulness" -> faithfulness(parseBoolean(value));
                default -> {
                    MethodOption<?> option = AttributionMethods.option(key);
                    if (option == null) {
                        throw new IllegalArgumentException("unknown option '" + key + "' (known: " + KEYS + ")");
                    }
                    methodOptions.put(key, option.parse(value));
                }
            }
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected " + (key.equals("internal_batch_size")
                    || key.equals("memory_mb") ? "auto or a positive integer" : "an integer") + ", got '" + value + "'");
        } catch (IllegalArgumentException e) {
            throw e.getMessage() != null && e.getMessage().startsWith(key) ? e
                    : new IllegalArgumentException(key + ": " + e.getMessage());
        }
        return this;
    }

    /** "auto" ({@link #AUTO}) or a positive integer. */
    private static int parseAuto(String value) {
        if (value.trim().equalsIgnoreCase("auto")) {
            return AUTO;
        }
        int n = Integer.parseInt(value.trim());
        if (n < 1) {
            throw new NumberFormatException();
        }
        return n;
    }

    private static Set<Analysis> parseAnalyses(String value) {
        Set<Analysis> set = EnumSet.noneOf(Analysis.class);
        for (String part : value.split(",")) {
            if (part.isBlank()) {
                continue;
            }
            switch (part.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "all" -> set.addAll(Analysis.all());
                case "forward" -> set.addAll(Analysis.forwardOnly());
                default -> set.add(Analysis.parse(part));
            }
        }
        return set;
    }

    public AttributionOptions method(IntegrationMethod m) {
        this.method = m;
        return this;
    }

    public AttributionOptions nSteps(int n) {
        if (n < 2) {
            throw new IllegalArgumentException("n_steps must be at least 2, got " + n);
        }
        this.nSteps = n;
        return this;
    }

    public AttributionOptions conductance(ConductanceRule rule) {
        this.conductance = rule;
        return this;
    }

    public AttributionOptions baseline(Baseline b) {
        this.baseline = b;
        return this;
    }

    public AttributionOptions target(TargetSpec t) {
        this.target = t;
        return this;
    }

    public AttributionOptions output(Output o) {
        this.output = o;
        return this;
    }

    public AttributionOptions qaReduction(QaReduction r) {
        this.qaReduction = r;
        return this;
    }

    /** The most rows per pass; {@link #AUTO} chooses for the device. */
    public AttributionOptions internalBatchSize(int rows) {
        if (rows < 0) {
            throw new IllegalArgumentException("internal_batch_size must be auto or at least 1, got " + rows);
        }
        this.internalBatchSize = rows;
        return this;
    }

    /**
     * The activation-memory budget of one pass, in MiB; chunks are sized from it (see {@link MemoryBudget});
     * {@link #AUTO} chooses for the device.
     */
    public AttributionOptions memoryMb(int megabytes) {
        if (megabytes < 0) {
            throw new IllegalArgumentException("memory_mb must be auto or at least 1, got " + megabytes);
        }
        this.memoryMb = megabytes;
        return this;
    }

    public AttributionOptions strategy(Strategy s) {
        this.strategy = s;
        return this;
    }

    public AttributionOptions analyses(Set<Analysis> set) {
        this.analyses = set.isEmpty() ? EnumSet.noneOf(Analysis.class) : EnumSet.copyOf(set);
        return this;
    }

    public IntegrationMethod method() {
        return method;
    }

    public int nSteps() {
        return nSteps;
    }

    public ConductanceRule conductance() {
        return conductance;
    }

    public Baseline baseline() {
        return baseline;
    }

    public TargetSpec target() {
        return target;
    }

    public Output output() {
        return output;
    }

    public QaReduction qaReduction() {
        return qaReduction;
    }

    public int internalBatchSize() {
        return internalBatchSize;
    }

    public int memoryMb() {
        return memoryMb;
    }

    public Strategy strategy() {
        return strategy;
    }

    public Set<Analysis> analyses() {
        return analyses;
    }

    /**
     * Whether an analysis is computed: requested, or needed by a requested method (integrated gradients by
     * integrated_gradients; the input's gradient by saliency and input_x_gradient; targets by the perturbation
     * methods).
     */
    public boolean has(Analysis a) {
        return analyses.contains(a) || methods.stream().anyMatch(m -> m.requiredAnalysis() == a);
    }

    public boolean needsGradients() {
        return java.util.Arrays.stream(Analysis.values()).anyMatch(a -> a.needsGradient() && has(a));
    }

    /** The attribution methods to report by name (explain's --methods; empty: today's output only). */
    public AttributionOptions methods(java.util.List<AttributionMethod> list) {
        this.methods = java.util.List.copyOf(list);
        return this;
    }

    /** The methods of a comma-separated list of names, e.g. "integrated_gradients,lime". */
    public AttributionOptions methods(String names) {
        return methods(AttributionMethods.parseList(names));
    }

    public java.util.List<AttributionMethod> methods() {
        return methods;
    }

    /** head_similarity's share of samples chosen by the model's device: every sample on a GPU, this on a CPU. */
    public static final double CPU_HEAD_SIMILARITY_RATE = 0.1;
    /** "auto" for {@link #headSimilarityRate(double)}. */
    public static final double AUTO_RATE = -1;

    /**
     * The share of samples whose head × head Jensen–Shannon distances ({@link SampleAttribution#headSimilarity})
     * are reduced on the model's device in the forward pass, for the job's head_similarity (a mean over samples,
     * so a share estimates it without bias): 0 (the default) none, 1 all, {@link #AUTO_RATE} all on a GPU and
     * {@value #CPU_HEAD_SIMILARITY_RATE} on a CPU. Samples are chosen by their tokens, the same in every run.
     */
    public AttributionOptions headSimilarityRate(double rate) {
        if (rate != AUTO_RATE && !(rate >= 0 && rate <= 1)) {
            throw new IllegalArgumentException("head similarity sample rate: expected auto or a number in [0, 1], got "
                    + rate);
        }
        this.headSimilarityRate = rate;
        return this;
    }

    /**
     * The layers whose output hidden states samples copy at their {@link Sample#embeddingPositions()}
     * ({@link TokenEmbeddings}): 0-based, negative counted from the last (−1 the last layer); none by default.
     */
    public AttributionOptions embeddingLayers(int... layers) {
        this.embeddingLayers = layers.clone();
        return this;
    }

    /** {@link #embeddingLayers(int...)} resolved for a model of {@code numLayers} layers, ascending and distinct. */
    public int[] embeddingLayers(int numLayers) {
        java.util.TreeSet<Integer> resolved = new java.util.TreeSet<>();
        for (int l : embeddingLayers) {
            int layer = l < 0 ? numLayers + l : l;
            if (layer < 0 || layer >= numLayers) {
                throw new IllegalArgumentException("embedding layer " + l + " is not a layer of a model with "
                        + numLayers + " layers (0 to " + (numLayers - 1) + ", or −1 for the last)");
            }
            resolved.add(layer);
        }
        return resolved.stream().mapToInt(Integer::intValue).toArray();
    }

    /**
     * Whether the engine reduces every sample's per-head statistics on the model's device ({@link HeadReductions}:
     * {@link SampleAttribution#headMetrics()}, {@link TargetAttribution#headConductance()}); on by default, as the
     * job needs them. Off, a sample has only what its analyses copy to the host (bench measures their cost so).
     */
    public AttributionOptions headStatistics(boolean on) {
        this.headStatistics = on;
        return this;
    }

    public boolean headStatistics() {
        return headStatistics;
    }

    /** The rate on {@code device}: {@link #AUTO_RATE} resolved; 0 without attention. */
    public double headSimilarityRate(ai.djl.Device device) {
        if (!has(Analysis.ATTENTION)) {
            return 0;
        }
        return headSimilarityRate != AUTO_RATE ? headSimilarityRate : device.isGpu() ? 1 : CPU_HEAD_SIMILARITY_RATE;
    }

    /**
     * Refuses combinations no single key shows: a zero-embedding baseline has no token ids to put in place of the
     * input's, which the perturbation methods and faithfulness need.
     */
    public AttributionOptions validate() {
        if (baseline.isZeroEmbedding()) {
            java.util.List<String> replacing = new java.util.ArrayList<>(methods.stream()
                    .filter(AttributionMethod::replacesTokens).map(AttributionMethod::name).toList());
            if (faithfulness) {
                replacing.add("faithfulness");
            }
            if (!replacing.isEmpty()) {
                throw new IllegalArgumentException("baseline zero: a zero embedding has no token ids to put in place "
                        + "of the input's, as " + String.join(", ", replacing) + " need; choose pad, mask, unk or a "
                        + "token id");
            }
        }
        return this;
    }

    /** Samples of KernelSHAP, LIME and GradientSHAP; 0 = Captum's defaults (25, 25 and 5). */
    public AttributionOptions samples(int n) {
        if (n < 0) {
            throw new IllegalArgumentException("n_samples: must be ≥ 0 (0 = the method's default), got " + n);
        }
        this.samples = n;
        return this;
    }

    public int samples() {
        return samples;
    }

    /** Seed of the sampling methods' draws (combined with each sample's tokens). */
    public AttributionOptions seed(long seed) {
        this.seed = seed;
        return this;
    }

    public long seed() {
        return seed;
    }

    /** Whether each method's comprehensiveness and sufficiency are measured (six forward passes per method). */
    public AttributionOptions faithfulness(boolean on) {
        this.faithfulness = on;
        return this;
    }

    public boolean faithfulness() {
        return faithfulness;
    }

    /** A method's option: the value set, or its declared default. */
    @SuppressWarnings("unchecked")
    public <T> T methodOption(MethodOption<T> option) {
        Object value = methodOptions.get(option.key());
        return value == null ? option.defaultValue() : (T) value;
    }

    private static boolean parseBoolean(String value) {
        return switch (value.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("expected true or false, got '" + value + "'");
        };
    }

    public boolean needsPath() {
        return java.util.Arrays.stream(Analysis.values()).anyMatch(a -> a.needsPath() && has(a));
    }

    /**
     * The sweep's points: with the trapezoid and quadratic rules the method's n points plus α = 0 and α = 1,
     * for both integrals; with the captum rule, integrated gradients on the method's n points (Captum's
     * LayerIntegratedGradients at n_steps = n) and conductance on its n+1 points (Captum's LayerConductance at
     * n_steps = n), in the same sweep (up to 2n+1 rows: the points they share are evaluated once), plus α = 0
     * and α = 1 for F(x') and F(x). {@code igWeight} is 0 on rows integrated gradients does not use.
     */
    public SweepPoints sweepPoints() {
        PathPoints ig = method.points(nSteps);
        if (conductance == ConductanceRule.CAPTUM) {
            return SweepPoints.of(ig, method.points(nSteps + 1), false);
        }
        return SweepPoints.of(ig, true);
    }
}
