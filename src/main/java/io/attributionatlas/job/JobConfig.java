package io.attributionatlas.job;

import io.attributionatlas.analysis.Slices;
import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionMethods;
import io.attributionatlas.attribution.AttributionOptions;
import java.io.IOException;
import java.io.Reader;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.Set;

/**
 * The job's configuration: the defaults in conf/atlas.conf (the one place every key is listed and
 * documented), overridden by an optional --conf file and --set key=value. Unknown keys and bad values
 * fail here, before Spark starts.
 */
public final class JobConfig implements Serializable {

    private static final long serialVersionUID = 1L;

    public static final String DEFAULTS = "conf/atlas.conf";
    /** conf/atlas.conf is packaged as this class-path resource, so spark-submit needs no extra file. */
    private static final String DEFAULTS_RESOURCE = "/atlas.conf";

    private final Map<String, String> values;

    private JobConfig(Map<String, String> values) {
        this.values = values;
    }

    /**
     * @param file an optional file of overrides (same format as conf/atlas.conf), or null
     * @param overrides --set key=value pairs, applied last
     */
    public static JobConfig load(Path file, Map<String, String> overrides) {
        Map<String, String> values;
        try (java.io.InputStream in = JobConfig.class.getResourceAsStream(DEFAULTS_RESOURCE)) {
            if (in == null) {
                throw new IllegalStateException(DEFAULTS + " is missing from the class path");
            }
            values = read(new java.io.InputStreamReader(in, StandardCharsets.UTF_8), DEFAULTS);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + DEFAULTS + ": " + e.getMessage(), e);
        }
        if (file != null) {
            read(file).forEach((k, v) -> put(values, k, v, file.toString()));
        }
        overrides.forEach((k, v) -> put(values, k, v, "--set"));
        JobConfig config = new JobConfig(values);
        config.attributionOptions(); // validates the engine keys
        io.attributionatlas.model.DeviceChoice.parse(config.get("engine.device"));
        config.precision();
        config.samplesPerBatch(false);
        config.level();
        config.truncationIsError();
        String queue = config.get("engine.queue");
        if (!java.util.List.of("auto", "shared", "per_task").contains(queue)) {
            throw new IllegalArgumentException("engine.queue: expected auto, shared or per_task, got '" + queue + "'");
        }
        for (String key : new String[] {"dump.count", "top_k", "errors.raw_chars", "engine.threads"}) {
            config.integer(key);
        }
        config.embeddingSampleRate();
        if (!config.get("partitions").equals("auto")) {
            try {
                if (Integer.parseInt(config.get("partitions")) < 1) {
                    throw new NumberFormatException();
                }
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("partitions: expected auto or a positive integer, got '"
                        + config.get("partitions") + "'");
            }
        }
        config.embeddingSeed();
        config.slices();
        config.maxLineBytes();
        config.invalidUtf8IsError();
        config.separator("csv");
        return config;
    }

    private static void put(Map<String, String> values, String key, String value, String source) {
        if (!values.containsKey(key)) {
            throw new IllegalArgumentException(source + ": unknown configuration key '" + key + "' (the keys are "
                    + "listed in " + DEFAULTS + ")");
        }
        values.put(key, value.trim());
    }

    private static Map<String, String> read(Path file) {
        try (Reader r = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
            return read(r, file.toString());
        } catch (IOException e) {
            throw new IllegalArgumentException("cannot read configuration " + file + ": " + e.getMessage());
        }
    }

    private static Map<String, String> read(Reader reader, String name) {
        Properties p = new Properties();
        try {
            p.load(reader);
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException("cannot read configuration " + name + ": " + e.getMessage());
        }
        Map<String, String> values = new LinkedHashMap<>();
        p.stringPropertyNames().stream().sorted().forEach(k -> values.put(k, stripComment(p.getProperty(k))));
        return values;
    }

    /** Trailing "# comment" after a value is a comment, as the defaults file writes them. */
    private static String stripComment(String v) {
        int hash = v.indexOf(" #");
        return (hash >= 0 ? v.substring(0, hash) : v).trim();
    }

    public String get(String key) {
        if (!values.containsKey(key)) {
            throw new IllegalArgumentException("unknown configuration key '" + key + "'");
        }
        return values.get(key);
    }

    /** The value, or null when empty. */
    public String optional(String key) {
        String v = get(key);
        return v == null || v.isEmpty() ? null : v;
    }

    public String required(String key) {
        String v = optional(key);
        if (v == null) {
            throw new IllegalArgumentException("configuration key '" + key + "' must be set (e.g. --set " + key
                    + "=...)");
        }
        return v;
    }

    public int integer(String key) {
        try {
            int v = Integer.parseInt(get(key));
            if (v < 0) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected a non-negative integer, got '" + get(key) + "'");
        }
    }

    public boolean bool(String key) {
        String v = get(key).toLowerCase(java.util.Locale.ROOT);
        if (!v.equals("true") && !v.equals("false")) {
            throw new IllegalArgumentException(key + ": expected true or false, got '" + get(key) + "'");
        }
        return v.equals("true");
    }

    /** engine.precision: fp32 | tf32 | bf16 | fp16. */
    public io.attributionatlas.model.Precision precision() {
        try {
            return io.attributionatlas.model.Precision.parse(get("engine.precision"));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("engine." + e.getMessage());
        }
    }

    /** batch.samples: a positive number, or auto (16 on a CPU, 1024 on a GPU). */
    public int samplesPerBatch(boolean gpu) {
        String v = get("batch.samples");
        if (v.equalsIgnoreCase("auto")) {
            return gpu ? GPU_SAMPLES_PER_BATCH : CPU_SAMPLES_PER_BATCH;
        }
        try {
            int n = Integer.parseInt(v);
            if (n < 1) {
                throw new NumberFormatException();
            }
            return n;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("batch.samples: expected auto or a positive integer, got '" + v + "'");
        }
    }

    /** batch.samples auto on a CPU: a few sweep chunks of 64 rows. */
    static final int CPU_SAMPLES_PER_BATCH = 16;
    /** batch.samples auto on a GPU: tens of thousands of sweep rows, so the passes hold thousands of rows. */
    static final int GPU_SAMPLES_PER_BATCH = 1024;

    /** attention | gradient | full. */
    public String level() {
        String level = get("level");
        if (!Set.of("attention", "gradient", "full").contains(level)) {
            throw new IllegalArgumentException("level: expected attention, gradient or full, got '" + level + "'");
        }
        return level;
    }

    /** input.max_line_bytes: a positive number of bytes. */
    public long maxLineBytes() {
        try {
            long v = Long.parseLong(get("input.max_line_bytes"));
            if (v < 1) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("input.max_line_bytes: expected a positive number of bytes, got '"
                    + get("input.max_line_bytes") + "'");
        }
    }

    /** input.invalid_utf8: error | replace. */
    public boolean invalidUtf8IsError() {
        String v = get("input.invalid_utf8");
        if (!v.equals("error") && !v.equals("replace")) {
            throw new IllegalArgumentException("input.invalid_utf8: expected error or replace, got '" + v + "'");
        }
        return v.equals("error");
    }

    /** The CSV/TSV field separator: input.separator (one character, \t or tab for a tab), else the format's. */
    public char separator(String format) {
        String v = get("input.separator");
        if (v.isEmpty()) {
            return format.equals("tsv") ? '\t' : ',';
        }
        if (v.equals("\\t") || v.equalsIgnoreCase("tab")) {
            return '\t';
        }
        if (v.length() != 1 || v.charAt(0) == '"' || v.charAt(0) == '\n' || v.charAt(0) == '\r') {
            throw new IllegalArgumentException("input.separator: expected one character (or \\t / tab), not a quote or"
                    + " a line break, got '" + v + "'");
        }
        return v.charAt(0);
    }

    public boolean truncationIsError() {
        String t = get("truncation");
        if (!t.equals("flag") && !t.equals("error")) {
            throw new IllegalArgumentException("truncation: expected flag or error, got '" + t + "'");
        }
        return t.equals("error");
    }

    /**
     * The job key of every engine option ({@link AttributionOptions#KEYS}), in one place: the job sets each from its
     * key, and a test checks that every option has one, documented in atlas.conf. {@code analyses} is the one
     * option without a key of its own: {@code level} chooses it.
     */
    /** A method's option {@code key} is the job key {@code methods.<key>}. */
    public static final String METHOD_KEY_PREFIX = "methods.";

    static final Map<String, String> ENGINE_KEYS = engineKeys();

    /** The engine's keys, then each registered method's options as {@code methods.<key>}. */
    private static Map<String, String> engineKeys() {
        Map<String, String> keys = new LinkedHashMap<>(orderedMap("method", "method", "n_steps", "n_steps",
                "conductance", "conductance", "baseline", "baseline", "target", "target", "output", "output",
                "qa_reduction", "qa_reduction", "internal_batch_size", "internal_batch_size", "memory_mb",
                "engine.memory_mb", "strategy", "strategy", "methods", "methods", "n_samples", "methods.n_samples",
                "seed", "methods.seed", "faithfulness", "methods.faithfulness"));
        AttributionMethods.options().forEach(o -> keys.put(o.key(), METHOD_KEY_PREFIX + o.key()));
        return java.util.Collections.unmodifiableMap(keys);
    }

    /**
     * atlas.conf's lines for the methods' options, as generated from their declarations: per option a comment
     * (method, doc, type) and {@code methods.<key> = <default>}. JobConfigTest checks that atlas.conf has them.
     */
    public static String methodOptionLines() {
        StringBuilder b = new StringBuilder();
        for (io.attributionatlas.attribution.AttributionMethod m : AttributionMethods.all()) {
            for (io.attributionatlas.attribution.MethodOption<?> o : m.options()) {
                b.append("# ").append(m.name()).append(": ").append(o.doc()).append(" (").append(o.type())
                        .append(")\n").append(METHOD_KEY_PREFIX).append(o.key()).append(" = ").append(o.defaultText())
                        .append('\n');
            }
        }
        return b.toString();
    }

    private static Map<String, String> orderedMap(String... pairs) {
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            map.put(pairs[i], pairs[i + 1]);
        }
        return java.util.Collections.unmodifiableMap(map);
    }

    /** The engine options: the level's analyses and the engine keys. */
    public AttributionOptions attributionOptions() {
        AttributionOptions o = AttributionOptions.defaults();
        ENGINE_KEYS.forEach((option, key) -> o.set(option, get(key)));
        Set<Analysis> analyses = EnumSet.copyOf(Analysis.forwardOnly());
        if (!level().equals("attention")) {
            analyses.add(Analysis.GRAD_X_INPUT);
            analyses.add(Analysis.HEAD_IMPORTANCE);
        }
        if (level().equals("full")) {
            analyses.addAll(Analysis.all());
        }
        String rate = get("statistics.head_similarity_sample_rate").trim();
        try {
            o.headSimilarityRate(rate.equalsIgnoreCase("auto") ? AttributionOptions.AUTO_RATE : Double.parseDouble(rate));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("statistics.head_similarity_sample_rate: expected auto or a number in "
                    + "[0, 1], got '" + rate + "'");
        }
        return o.analyses(analyses).embeddingLayers(embeddingLayers()).validate();
    }

    /** embeddings.layers: 0-based layers, negative from the last; checked against the model when it loads. */
    int[] embeddingLayers() {
        String v = get("embeddings.layers");
        try {
            return v.isBlank() ? new int[0] : java.util.Arrays.stream(v.split(",")).map(String::trim)
                    .mapToInt(Integer::parseInt).toArray();
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("embeddings.layers: expected comma-separated layer numbers (0-based, "
                    + "-1 the last), got '" + v + "'");
        }
    }

    /** embeddings.sample_rate, the share of token positions whose embeddings are kept, in [0, 1]. */
    double embeddingSampleRate() {
        String v = get("embeddings.sample_rate");
        try {
            double rate = Double.parseDouble(v);
            if (rate >= 0 && rate <= 1) {
                return rate;
            }
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("embeddings.sample_rate: expected a number in [0, 1], got '" + v + "'");
    }

    long embeddingSeed() {
        try {
            return Long.parseLong(get("embeddings.seed"));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("embeddings.seed: expected an integer, got '"
                    + get("embeddings.seed") + "'");
        }
    }

    /** The slice definitions (slices, slices.length_edges, slices.confidence_edges, slices.max_values). */
    public Slices slices() {
        return Slices.parse(get("slices"), get("slices.length_edges"), get("slices.confidence_edges"),
                get("slices.max_values"));
    }

    public Map<String, String> asMap() {
        return java.util.Collections.unmodifiableMap(values);
    }
}
