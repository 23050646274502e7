package io.attributionatlas.analysis;

import io.attributionatlas.model.Prediction;
import io.attributionatlas.schema.Keys;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Function;

/**
 * The slices a corpus run aggregates by: {@code all}, always, then each configured definition. A sample belongs to
 * one value of each definition, or to none where the definition does not apply to it (no label for
 * {@code correct}, no class prediction for {@code predicted} on a QA model, no value in the column):
 * <ul>
 * <li>{@code label}: the input's label; {@code predicted}: the predicted class; {@code correct}: {@code true} or
 * {@code false}, label = predicted;</li>
 * <li>{@code length}: the token count in buckets {@code [a, b)} of the length edges, e.g. {@code 16-32}, and
 * {@code 512+} past the last edge;</li>
 * <li>{@code confidence}: the predicted class's probability in buckets of the confidence edges, e.g.
 * {@code 0.7-0.9} (the last bucket closed: 1.0 is in {@code 0.9-1.0}), {@code <0.5} below the first edge;</li>
 * <li>{@code column:NAME}: the input column NAME's value.</li>
 * </ul>
 * Each definition has at most {@code maxValues} values: the label and column values beyond the most frequent
 * {@code maxValues − 1} (the corpus's counts, ties by value, known before the run from a pass over the input) and
 * predicted classes from index {@code maxValues − 1} on become {@value #OTHER}. Serializable: executors compute
 * each sample's values.
 */
public final class Slices implements Serializable {

    private static final long serialVersionUID = 1L;

    public static final String ALL = Keys.Slice.ALL;
    public static final String OTHER = "other";
    public static final String COLUMN_PREFIX = "column:";
    public static final Keys.Slice ALL_SLICE = new Keys.Slice(ALL, ALL);

    /** What a definition slices by. */
    public enum Kind {
        LABEL, PREDICTED, CORRECT, LENGTH, CONFIDENCE, COLUMN
    }

    /** One slice definition: its name (the table's {@code slice} column), kind and, for a column, its name. */
    public record Definition(String name, Kind kind, String column) implements Serializable {
        /** Whether the values come from the input and are bounded by a pass over it (label, column). */
        public boolean fromInput() {
            return kind == Kind.LABEL || kind == Kind.COLUMN;
        }
    }

    private final List<Definition> definitions;
    private final Edges lengthEdges;
    private final Edges confidenceEdges;
    private final int maxValues;
    /** Per input-valued definition, the values kept (the rest are {@link #OTHER}); set before the run. */
    private final Map<String, Set<String>> kept = new TreeMap<>();

    /** Bucket edges, increasing, and their text as configured (a bucket's name: {@code 0.7-0.9}). */
    record Edges(double[] values, String[] text) implements Serializable {
    }

    private Slices(List<Definition> definitions, Edges lengthEdges, Edges confidenceEdges, int maxValues) {
        this.definitions = List.copyOf(definitions);
        this.lengthEdges = lengthEdges;
        this.confidenceEdges = confidenceEdges;
        this.maxValues = maxValues;
    }

    /**
     * Parses the job keys: {@code slices} (comma-separated definitions; {@code all} may be named and is always
     * there), {@code slices.length_edges}, {@code slices.confidence_edges} and {@code slices.max_values}. Fails
     * naming the key and the value.
     */
    public static Slices parse(String slices, String lengthEdges, String confidenceEdges, String maxValues) {
        int max;
        try {
            max = Integer.parseInt(maxValues.trim());
        } catch (NumberFormatException e) {
            max = -1;
        }
        if (max < 2) {
            throw new IllegalArgumentException("slices.max_values: expected an integer ≥ 2, got '" + maxValues + "'");
        }
        Edges lengths = edges("slices.length_edges", lengthEdges, max);
        Edges confidences = edges("slices.confidence_edges", confidenceEdges, max);
        List<Definition> out = new ArrayList<>();
        Set<String> seen = new LinkedHashSet<>();
        for (String raw : slices.split(",")) {
            String name = raw.trim();
            if (name.isEmpty() || name.equals(ALL)) {
                continue;
            }
            Definition d;
            if (name.startsWith(COLUMN_PREFIX) && name.length() > COLUMN_PREFIX.length()) {
                d = new Definition(name, Kind.COLUMN, name.substring(COLUMN_PREFIX.length()));
            } else {
                Kind kind;
                try {
                    kind = Kind.valueOf(name.toUpperCase(Locale.ROOT));
                } catch (IllegalArgumentException e) {
                    kind = null;
                }
                if (kind == null || kind == Kind.COLUMN) {
                    throw new IllegalArgumentException("slices: unknown slice '" + name + "'; expected all, label, "
                            + "predicted, correct, length, confidence or column:NAME");
                }
                d = new Definition(name, kind, null);
            }
            if (seen.add(name)) {
                out.add(d);
            }
        }
        return new Slices(out, lengths, confidences, max);
    }

    private static Edges edges(String key, String value, int maxValues) {
        String[] parts = value.split("-|,");
        double[] e = new double[parts.length];
        try {
            for (int i = 0; i < parts.length; i++) {
                parts[i] = parts[i].trim();
                e[i] = Double.parseDouble(parts[i]);
                if (!Double.isFinite(e[i]) || (i > 0 && e[i] <= e[i - 1])) {
                    throw new NumberFormatException();
                }
            }
        } catch (NumberFormatException ex) {
            throw new IllegalArgumentException(key + ": expected increasing numbers separated by '-' or ',', got '"
                    + value + "'");
        }
        if (e.length < 2 || e.length + 1 > maxValues) {
            throw new IllegalArgumentException(key + ": expected 2 to " + (maxValues - 1) + " edges (at most "
                    + "slices.max_values buckets), got " + e.length);
        }
        return new Edges(e, parts);
    }

    public List<Definition> definitions() {
        return definitions;
    }

    public int maxValues() {
        return maxValues;
    }

    /** Keeps {@code values} of an input-valued definition (the most frequent, at most maxValues − 1). */
    public void keep(String definition, Set<String> values) {
        if (values.size() > maxValues - 1) {
            throw new IllegalArgumentException(definition + ": " + values.size() + " values kept, at most "
                    + (maxValues - 1));
        }
        kept.put(definition, Set.copyOf(values));
    }

    /**
     * The sample's slices: {@link #ALL_SLICE}, then its value of each definition that applies to it.
     * {@code label} is the input's label (null when none), {@code column} a column's value by name (null when
     * missing).
     */
    public List<Keys.Slice> of(Prediction p, int tokens, String label, Function<String, String> column) {
        List<Keys.Slice> out = new ArrayList<>(definitions.size() + 1);
        out.add(ALL_SLICE);
        for (Definition d : definitions) {
            String value = switch (d.kind()) {
                case LABEL -> input(d, label);
                case COLUMN -> input(d, column.apply(d.column()));
                case PREDICTED -> p.label() == null ? null : p.labelIndex() >= maxValues - 1 ? OTHER : p.label();
                case CORRECT -> label == null || p.label() == null ? null : String.valueOf(label.equals(p.label()));
                case LENGTH -> bucket(lengthEdges, tokens, false);
                case CONFIDENCE -> p.probabilities() == null || p.labelIndex() < 0 ? null
                        : bucket(confidenceEdges, p.probabilities()[p.labelIndex()], true);
            };
            if (value != null) {
                out.add(new Keys.Slice(d.name(), value));
            }
        }
        return out;
    }

    private String input(Definition d, String value) {
        if (value == null) {
            return null;
        }
        Set<String> keep = kept.get(d.name());
        if (keep == null) {
            throw new IllegalStateException(d.name() + ": its values were not counted before the run");
        }
        return keep.contains(value) ? value : OTHER;
    }

    /**
     * {@code a-b} for a ≤ x < b; below the first edge {@code <a}, past the last {@code b+} (or, with the last
     * bucket closed, x = b in the last bucket).
     */
    static String bucket(Edges edges, double x, boolean closedLast) {
        double[] e = edges.values();
        String[] t = edges.text();
        if (x < e[0]) {
            return "<" + t[0];
        }
        for (int i = 1; i < e.length; i++) {
            if (x < e[i] || (closedLast && i == e.length - 1 && x == e[i])) {
                return t[i - 1] + "-" + t[i];
            }
        }
        return t[e.length - 1] + "+";
    }
}
