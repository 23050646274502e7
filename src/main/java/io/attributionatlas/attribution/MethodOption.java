package io.attributionatlas.attribution;

import java.util.List;
import java.util.Locale;
import java.util.function.Function;

/**
 * One option an {@link AttributionMethod} declares: its key (the same as explain's flag with dashes, and as the
 * job's {@code methods.<key>}), a type shown in docs and its placeholder in usage, its default and a line of documentation, and how a text value
 * is parsed and checked. The CLI flags, the job keys, atlas.conf's lines and the usage text are generated from these.
 *
 * @param <T> the parsed value's type
 */
public record MethodOption<T>(String key, String type, String metavar, T defaultValue, String doc,
        Function<String, T> parser) {

    /** The value of a text, or IllegalArgumentException naming the key. */
    public T parse(String text) {
        try {
            return parser.apply(text.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(key + ": expected " + type + ", got '" + text + "'");
        } catch (IllegalArgumentException e) {
            throw e.getMessage() != null && e.getMessage().startsWith(key) ? e
                    : new IllegalArgumentException(key + ": " + e.getMessage());
        }
    }

    /** The default as atlas.conf writes it. */
    public String defaultText() {
        return defaultValue instanceof Double d && d == 0 ? "0"
                : String.valueOf(defaultValue).toLowerCase(Locale.ROOT);
    }

    /** A positive integer. */
    public static MethodOption<Integer> positiveInt(String key, int fallback, String doc) {
        return new MethodOption<>(key, "a positive integer", "N", fallback, doc, text -> {
            int n = Integer.parseInt(text);
            if (n < 1) {
                throw new IllegalArgumentException(key + ": must be >= 1, got " + n);
            }
            return n;
        });
    }

    /** A number ≥ 0. */
    public static MethodOption<Double> nonNegative(String key, double fallback, String doc) {
        return new MethodOption<>(key, "a number >= 0", "X", fallback, doc, text -> {
            double v = Double.parseDouble(text);
            if (!(v >= 0)) {
                throw new IllegalArgumentException(key + ": must be >= 0, got " + text);
            }
            return v;
        });
    }

    /** One of a fixed set of lower-case names. */
    public static MethodOption<String> choice(String key, List<String> choices, String fallback, String doc) {
        return new MethodOption<>(key, String.join(" | ", choices), String.join("|", choices), fallback, doc, text -> {
            String v = text.toLowerCase(Locale.ROOT);
            if (!choices.contains(v)) {
                throw new IllegalArgumentException(key + ": expected one of " + choices + ", got '" + text + "'");
            }
            return v;
        });
    }
}
