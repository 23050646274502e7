package io.attributionatlas.model;

import java.util.Collection;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.ServiceLoader;

/**
 * The registry of encoder families by {@code model_type}: the classes listed in
 * {@code META-INF/services/io.attributionatlas.model.EncoderFamily}, one line each (the shaded jar merges the
 * file, so Spark executors see the same list).
 */
public final class EncoderFamilies {

    private static final Map<String, EncoderFamily> BY_TYPE = load();

    private EncoderFamilies() {
    }

    private static Map<String, EncoderFamily> load() {
        Map<String, EncoderFamily> byType = new LinkedHashMap<>();
        for (EncoderFamily f : ServiceLoader.load(EncoderFamily.class, EncoderFamily.class.getClassLoader())) {
            EncoderFamily previous = byType.put(f.modelType(), f);
            if (previous != null) {
                throw new IllegalStateException("two encoder families for model_type '" + f.modelType() + "': "
                        + previous.getClass().getName() + " and " + f.getClass().getName());
            }
        }
        return Collections.unmodifiableMap(byType);
    }

    /** The family of a config.json {@code model_type} (case-insensitive), or null. */
    public static EncoderFamily of(String modelType) {
        return modelType == null ? null : BY_TYPE.get(modelType.toLowerCase(Locale.ROOT));
    }

    /** Every registered family, in registry order. */
    public static Collection<EncoderFamily> all() {
        return BY_TYPE.values();
    }

    /** "bert, distilbert, …" for error messages. */
    public static String supportedList() {
        return String.join(", ", BY_TYPE.keySet());
    }
}
