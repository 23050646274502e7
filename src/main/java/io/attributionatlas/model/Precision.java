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
 * What the model computes in ({@code --precision}, job key {@code engine.precision}). In every mode the path
 * integrals — integrated gradients, conductance of every layer and attention tensor — and every other reduction
 * of the sweep are accumulated in float32 from the tapped tensors and their gradients.
 * <ul>
 *   <li>{@code fp32}: float32 everywhere (the default);</li>
 *   <li>{@code tf32}: float32, with a GPU's matrix products on its TF32 tensor cores (10-bit mantissa inputs,
 *       float32 accumulation). PyTorch reads this per process, from {@value #TF32_VARIABLE} when it starts, so
 *       it holds for every model of the JVM; on a CPU products stay float32;</li>
 *   <li>{@code bf16}, {@code fp16}: the model's weights and activations in bfloat16 or float16, as transformers'
 *       {@code model.to(dtype)}; the products accumulate in float32 inside the kernels. A type change inside the
 *       differentiated graph is not possible through DJL (its cast runs without autograd), so the whole forward
 *       pass runs in the type. bf16 needs a DJL JNI with the bfloat16 type ({@code scripts/gpu/build-bf16-jni};
 *       DJL 0.35.1's own has none); fp16 works with DJL's own, within float16's range (6.5e4).</li>
 * </ul>
 */
public enum Precision {
    FP32(DataType.FLOAT32, -Float.MAX_VALUE), TF32(DataType.FLOAT32, -Float.MAX_VALUE),
    BF16(DataType.BFLOAT16, -3.3895314e38f), FP16(DataType.FLOAT16, -65504f);

    /** Read by PyTorch when its global context is created: TF32 for float32 cuBLAS products in the process. */
    public static final String TF32_VARIABLE = "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE";
    /** A function our bfloat16-capable JNI build exports (scripts/gpu/build-bf16-jni); DJL's own JNI has none. */
    static final String BF16_MARKER = "atlas_djl_bfloat16";

    /** Whether this JVM set {@value #TF32_VARIABLE} (System.getenv does not see libc's setenv). */
    private static boolean tf32Set;

    private final DataType computeType;
    private final float lowestValue;

    Precision(DataType computeType, float lowestValue) {
        this.computeType = computeType;
        this.lowestValue = lowestValue;
    }

    /** The type of the model's weights and activations. */
    public DataType computeType() {
        return computeType;
    }

    /**
     * The most negative value of the compute type (torch.finfo(dtype).min), added to the scores of padded keys as
     * transformers does.
     */
    public float lowestValue() {
        return lowestValue;
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
                    + "scripts/gpu/build-bf16-jni (README, \"GPUs\") or choose fp16");
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
