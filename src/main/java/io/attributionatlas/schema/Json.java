package io.attributionatlas.schema;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;

/** The project's Gson configurations, made in one place. */
public final class Json {

    /** Data files and table cells: text as it is (no HTML escaping); NaN and infinities written as such. */
    public static final Gson COMPACT = new GsonBuilder().disableHtmlEscaping().serializeSpecialFloatingPointValues()
            .create();
    /** Reports a person reads (bench, convergence). */
    public static final Gson PRETTY = new GsonBuilder().setPrettyPrinting().create();
    /** JSON embedded in an HTML page's script element: Gson's default escapes &lt;, &gt;, &amp; and quotes. */
    public static final Gson SCRIPT_SAFE = new Gson();

    private Json() {
    }
}
