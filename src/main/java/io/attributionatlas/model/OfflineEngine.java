package io.attributionatlas.model;

/**
 * DJL settings for running without network: libtorch and the tokenizer library come from the Maven
 * jars on the class path, and nothing is downloaded or reported home.
 */
public final class OfflineEngine {

    private OfflineEngine() {
    }

    /** Sets the properties unless the caller already chose otherwise; call before DJL is first used. */
    public static void ensure() {
        setIfAbsent("ai.djl.offline", "true");
        setIfAbsent("OPT_OUT_TRACKING", "true");
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
