package io.attributionatlas.model;

/**
 * DJL settings for running without network: libtorch and the tokenizer library come from the Maven
 * jars on the class path, and nothing is downloaded or reported home.
 */
public final class OfflineEngine {

    private OfflineEngine() {
    }

    /** Whether PyTorch computes float32 products in TF32, as it read when it started; null before. */
    private static Boolean tf32;

    /**
     * Sets the properties unless the caller already chose otherwise; call before DJL is first used. The first call
     * marks PyTorch as started: its process-wide settings ({@link Precision#TF32_VARIABLE}) are fixed from here on.
     */
    public static synchronized void ensure() {
        setIfAbsent("ai.djl.offline", "true");
        setIfAbsent("OPT_OUT_TRACKING", "true");
        if (tf32 == null) {
            tf32 = Precision.tf32InEnvironment();
        }
    }

    static synchronized boolean started() {
        return tf32 != null;
    }

    static synchronized boolean tf32() {
        return tf32 != null && tf32;
    }

    private static void setIfAbsent(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
