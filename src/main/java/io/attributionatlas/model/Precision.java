package io.attributionatlas.model;

import ai.djl.ndarray.types.DataType;
import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.NativeLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * How the model's matrix products are computed ({@code --precision}, job key {@code engine.precision}). Everything
 * else — embeddings, layer norms, softmax, activations, residual sums, every tapped tensor and the path integrals
 * accumulated from them — stays float32 in every mode.
 * <ul>
 *   <li>{@code fp32}: float32 products (the default);</li>
 *   <li>{@code tf32}: float32 products on a GPU's TF32 tensor cores (10-bit mantissa inputs, float32 accumulate);
 *       PyTorch reads this per process, from {@value #TF32_VARIABLE} when it starts, so it holds for every model
 *       of the JVM; on a CPU products stay float32;</li>
 *   <li>{@code bf16}: operands rounded to bfloat16, products accumulated in float32, results back to float32; needs
 *       a DJL JNI with the bfloat16 type ({@code scripts/gpu-jni}; DJL 0.35.1's own has none);</li>
 *   <li>{@code fp16}: the same with float16 (DJL's own JNI has it; its range is 6.5e4, so it suits activations of
 *       normal size).</li>
 * </ul>
 */
public enum Precision {
    FP32(null), TF32(null), BF16(DataType.BFLOAT16), FP16(DataType.FLOAT16);

    /** Read by PyTorch when its global context is created: TF32 for float32 cuBLAS products in the process. */
    public static final String TF32_VARIABLE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";
    /** A function our bfloat16-capable JNI build exports (scripts/gpu-jni); DJL's own JNI has none. */
    static final String BF16_MARKER = "atlas_djl_bfloat16";

    /** Whether this JVM set {@value #TF32_VARIABLE} (System.getenv does not see libc's setenv). */
    private static boolean tf32Set;

    private final DataType matmulType;

    Precision(DataType matmulType) {
        this.matmulType = matmulType;
    }

    /** The type matrix products run in, or null for float32 operands (fp32, tf32). */
    public DataType matmulType() {
        return matmulType;
    }

    public String cliName() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Precision parse(String value) {
        for (Precision p : values()) {
            if (p.cliName().equals(value.trim().toLowerCase(Locale.ROOT))) {
                return p;
            }
        }
        throw new IllegalArgumentException("precision: expected fp32, tf32, bf16 or fp16, got '" + value + "'");
    }

    /**
     * Prepares this JVM for models of this precision; call before PyTorch starts (the first model load or device
     * query). Before it starts, tf32 sets {@value #TF32_VARIABLE} in the process environment for PyTorch to read.
     * Fails when PyTorch started, or the environment says it will start, with the other TF32 setting, which it
     * cannot change later: start the JVM with the variable set (or unset) instead, e.g.
     * {@code spark.executorEnv.TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1}.
     */
    public void prepareProcess() {
        boolean wanted = this == TF32;
        boolean actual;
        synchronized (OfflineEngine.class) {
            if (!OfflineEngine.started() && wanted && !tf32InEnvironment()) {
                CLibrary.INSTANCE.setenv(TF32_VARIABLE, "1", 1);
                tf32Set = true;
            }
            actual = OfflineEngine.started() ? OfflineEngine.tf32() : tf32InEnvironment();
        }
        if (actual != wanted) {
            throw new IllegalArgumentException("precision " + cliName() + ": PyTorch in this JVM "
                    + (OfflineEngine.started() ? "computes" : "will compute") + " float32 products "
                    + (actual ? "in TF32 (" + TF32_VARIABLE + " is set)" : "in full float32")
                    + ", fixed when it starts; " + (wanted ? "start the JVM with " + TF32_VARIABLE + "=1"
                            : "start the JVM without " + TF32_VARIABLE) + " (Spark: spark.executorEnv."
                    + TF32_VARIABLE + "), or choose " + (actual ? "tf32" : "fp32, bf16 or fp16"));
        }
    }

    /** Whether PyTorch, starting now, would compute float32 products in TF32. */
    static boolean tf32InEnvironment() {
        return tf32Set || truthy(System.getenv(TF32_VARIABLE));
    }

    /** Fails unless the loaded PyTorch JNI can create tensors of this precision's type. */
    void requireSupported() {
        if (this == BF16 && !jniHasBfloat16()) {
            throw new IllegalArgumentException("precision bf16: the loaded DJL JNI (libdjl_torch.so) has no bfloat16 "
                    + "type (DJL 0.35.1's own maps only float32/64, float16 and integer types); build one with "
                    + "scripts/gpu-jni (README, \"GPUs\") or choose fp16");
        }
    }

    private static boolean truthy(String v) {
        return v != null && switch (v.trim().toUpperCase(Locale.ROOT)) {
            case "1", "ON", "YES", "TRUE", "Y" -> true;
            default -> false;
        };
    }

    /** Whether the libdjl_torch.so this process loaded exports our bfloat16 marker (Linux: /proc/self/maps). */
    private static boolean jniHasBfloat16() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int at = line.indexOf('/');
                if (at >= 0 && line.endsWith("libdjl_torch.so")) {
                    try {
                        NativeLibrary.getInstance(line.substring(at)).getFunction(BF16_MARKER);
                        return true;
                    } catch (UnsatisfiedLinkError e) {
                        return false;
                    }
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /** libc's setenv: Java cannot change its own process environment. */
    private interface CLibrary extends Library {
        CLibrary INSTANCE = Native.load("c", CLibrary.class);

        int setenv(String name, String value, int overwrite);
    }
}
