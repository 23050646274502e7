package io.attributionatlas.attribution;

import java.util.ArrayList;
import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * The registry of attribution methods by name: the classes listed in
 * {@code META-INF/services/io.attributionatlas.attribution.AttributionMethod}, one line each, in that order (the
 * order of usage, docs and reports).
 */
public final class AttributionMethods {

    private static final Map<String, AttributionMethod> BY_NAME = load();

    private AttributionMethods() {
    }

    private static Map<String, AttributionMethod> load() {
        Map<String, AttributionMethod> byName = new LinkedHashMap<>();
        Map<String, String> optionOwner = new LinkedHashMap<>();
        for (AttributionMethod m : ServiceLoader.load(AttributionMethod.class,
                AttributionMethod.class.getClassLoader())) {
            if (byName.put(m.name(), m) != null) {
                throw new IllegalStateException("two attribution methods named '" + m.name() + "'");
            }
            for (MethodOption<?> o : m.options()) {
                String owner = optionOwner.put(o.key(), m.name());
                if (owner != null) {
                    throw new IllegalStateException("option '" + o.key() + "' declared by " + owner + " and "
                            + m.name());
                }
            }
        }
        return Collections.unmodifiableMap(byName);
    }

    /** Every registered method, in registry order. */
    public static Collection<AttributionMethod> all() {
        return BY_NAME.values();
    }

    /** Every method's options, in registry order. */
    public static List<MethodOption<?>> options() {
        List<MethodOption<?>> out = new ArrayList<>();
        BY_NAME.values().forEach(m -> out.addAll(m.options()));
        return out;
    }

    /** The option of this key, or null. */
    public static MethodOption<?> option(String key) {
        return options().stream().filter(o -> o.key().equals(key)).findFirst().orElse(null);
    }

    /** The method of this name, or IllegalArgumentException listing the known ones. */
    public static AttributionMethod of(String name) {
        AttributionMethod m = BY_NAME.get(name.trim().toLowerCase(Locale.ROOT));
        if (m == null) {
            throw new IllegalArgumentException("unknown method '" + name.trim() + "' (expected " + names() + ")");
        }
        return m;
    }

    /** "integrated_gradients, saliency, …". */
    public static String names() {
        return String.join(", ", BY_NAME.keySet());
    }

    /** A comma-separated list, without repeats; empty for none. */
    public static List<AttributionMethod> parseList(String text) {
        List<AttributionMethod> out = new ArrayList<>();
        for (String part : text.split(",")) {
            if (!part.isBlank() && !out.contains(of(part))) {
                out.add(of(part));
            }
        }
        return out;
    }
}
