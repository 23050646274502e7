package io.attributionatlas.attribution;

import ai.djl.Device;
import ai.djl.pytorch.jni.JniUtils;
import ai.djl.util.cuda.CudaUtils;
import io.attributionatlas.model.ModelConfig;
import java.lang.management.MemoryUsage;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * How many rows one pass may take at a sequence length S so that its activation memory (native memory on a
 * CPU, device memory on a GPU) stays under {@code bytes}. Attention tensors grow with S², so a chunk is sized
 * from its length and the model's shape, never by a row count alone; {@code maxRows}
 * ({@code internal_batch_size}) stays an upper bound.
 *
 * <p>Bytes per row = 4 · (L · (a·H·S² + S·(b·d + c·I)) + 12·S·e), with L layers, H heads, hidden size d,
 * intermediate size I and embedding size e:
 * <ul>
 *   <li>sweep (forward + backward with every layer output, attention tensor and head gate tapped):
 *       a = 4, b = 8, c = 3;</li>
 *   <li>forward only (attentions and values kept): a = 2, b = 3, c = 1.</li>
 * </ul>
 * The coefficients are the measured peaks of one pass (all-MiniLM, 32 to 512 tokens: 5.4, 32 and 300 MB a
 * sweep row at 32, 128 and 512 tokens) rounded up by about 30%. Each (sample, target) open in the sweep also
 * keeps, between chunks, its attention-conductance sum and the chain points that conductance carries
 * (value and gradient): 4 · L · (1 + 2·carried) · (H·S² + S·d) bytes ({@link #sweepItemBytes}), and the per-head
 * reductions add {@link #REDUCTION_TEMPORARIES} · 4 · H·S² bytes to a forward row and to an item; a chunk of r
 * rows holds at most min(r, ⌈r / rows per item⌉ + 1) such items, and one row plus one item must fit. On a
 * CPU, rows are also limited so that [rows, H, S, S] stays within {@link #CPU_LARGEST_TENSOR_BYTES}.
 */
public record MemoryBudget(long bytes, int maxRows, long largestTensorBytes) {

    private static final long MB = 1L << 20;

    /**
     * On a CPU a pass's largest tensor, [rows, H, S, S], is kept within glibc's largest mmap threshold: larger
     * blocks are always fresh mappings whose pages fault in on first touch, and that made a 512-token sweep
     * 3 to 10 times slower per row (measured: 4 rows 1.3–2 s a row, 2 rows 0.26 s a row). GPUs cache memory.
     */
    public static final long CPU_LARGEST_TENSOR_BYTES = 32 * MB;

    /**
     * On a CPU, the per-head reductions and head similarity work on blocks of about this size (at least one layer, or
     * one pair of heads): blocks that stay in cache and below the allocator's mmap threshold. Measured on this
     * project's 2-core machine, MiniLM, one sample: head similarity 82 ms at 20 tokens with 32 MB blocks, 11 ms with
     * 2 MB ones (476 against 199 ms at 128 tokens); the reductions of all six layers 17 ms one layer at a time, 2.3 ms
     * joined (at 128 tokens, where one layer is 1.5 MB, a layer at a time is as fast).
     */
    public static final long CPU_REDUCTION_BLOCK_BYTES = 2 * MB;

    /** A CPU pass's default budget (memory_mb auto): a 512-token BERT-base sweep row with its state fits. */
    public static final int CPU_DEFAULT_MB = 2048;
    /** A CPU pass's default most rows (internal_batch_size auto). */
    public static final int CPU_DEFAULT_ROWS = 64;
    /**
     * A GPU pass's default most rows: thousands, so the device's matrix products are large and the host's fixed
     * cost per chunk is shared by many samples; the free device memory bounds it further.
     */
    public static final int GPU_DEFAULT_ROWS = 2048;
    /** The share of a GPU's free memory (at explainer creation) that memory_mb auto gives its passes. */
    static final double GPU_FREE_FRACTION = 0.75;
    private static final Logger LOG = LoggerFactory.getLogger(MemoryBudget.class);

    /**
     * The budget of {@code megabytes} (0: auto) for a model on {@code device}, at most {@code maxRows} rows a
     * pass (0: auto). Auto is {@value #CPU_DEFAULT_MB} MB and {@value #CPU_DEFAULT_ROWS} rows on a CPU; on a GPU
     * {@link #gpuShareMb} of the device's free memory for one user and {@value #GPU_DEFAULT_ROWS} rows.
     */
    public static MemoryBudget of(int megabytes, int maxRows, Device device) {
        boolean gpu = device.isGpu();
        int mb = megabytes > 0 ? megabytes : gpu ? gpuShareMb(device, 1) : CPU_DEFAULT_MB;
        int rows = maxRows > 0 ? maxRows : gpu ? GPU_DEFAULT_ROWS : CPU_DEFAULT_ROWS;
        return new MemoryBudget(mb * MB, rows, gpu ? Long.MAX_VALUE : CPU_LARGEST_TENSOR_BYTES);
    }

    /**
     * {@value #GPU_FREE_FRACTION} of the GPU's free memory, split between {@code users} concurrent passes (tasks
     * sharing the device), in MiB. PyTorch's cached blocks are released first, so that memory this process holds
     * but does not use counts as free. Where the CUDA runtime cannot be asked, {@value #CPU_DEFAULT_MB} MB.
     */
    public static int gpuShareMb(Device device, int users) {
        try {
            JniUtils.emptyCudaCache();
            MemoryUsage usage = CudaUtils.getGpuMemory(device);
            long free = usage.getMax() - usage.getUsed();
            return (int) Math.max(1, (long) (free * GPU_FREE_FRACTION / Math.max(1, users) / MB));
        } catch (RuntimeException | LinkageError e) {
            LOG.warn("memory_mb auto: cannot read the free memory of {} ({}); using {} MB, set memory_mb to use more",
                    device, e.toString(), CPU_DEFAULT_MB);
            return CPU_DEFAULT_MB;
        }
    }

    /** The budget in MiB. */
    public int megabytes() {
        return (int) (bytes / MB);
    }

    /**
     * One layer's [H, S, S] in float32 units that {@link HeadReductions} holds at its peak per row or item (its
     * float64 temporaries): added to a forward row and to an open sweep item with attention conductance.
     */
    static final int REDUCTION_TEMPORARIES = 6;

    /** Estimated peak bytes of one forward+backward row of the sweep at {@code seq} tokens. */
    public static long sweepRowBytes(ModelConfig c, int seq) {
        return rowBytes(c, seq, 4, 8, 3);
    }

    /** Estimated peak bytes of one forward-only row at {@code seq} tokens. */
    public static long forwardRowBytes(ModelConfig c, int seq) {
        return rowBytes(c, seq, 2, 3, 1) + reductionBytes(c, seq);
    }

    private static long reductionBytes(ModelConfig c, int seq) {
        return 4L * REDUCTION_TEMPORARIES * c.numHeads() * seq * seq;
    }

    private static long rowBytes(ModelConfig c, int seq, long a, long b, long cc) {
        long s = seq;
        long perLayer = a * c.numHeads() * s * s + s * (b * c.hiddenSize() + cc * c.intermediateSize());
        return 4 * (c.numLayers() * perLayer + 12 * s * c.embeddingSize());
    }

    /**
     * Bytes an open (sample, target) keeps between chunks: the attention-conductance sum and the carried chain
     * points of the tapped tensors (0 without conductance).
     */
    public static long sweepItemBytes(ModelConfig c, int seq, int carriedPoints, boolean layers, boolean attention) {
        long s = seq;
        long perLayer = (attention ? c.numHeads() * s * s : 0) + (layers ? s * c.hiddenSize() : 0);
        return perLayer == 0 ? 0 : 4L * c.numLayers() * (1 + 2L * carriedPoints) * perLayer
                + (attention ? reductionBytes(c, seq) : 0);
    }

    /**
     * Rows of one sweep pass at {@code seq} tokens with items of {@code rowsPerItem} rows that keep
     * {@code itemBytes} each: at least 1 (see {@link #requireFits}), at most maxRows.
     */
    public int sweepRows(ModelConfig c, int seq, int rowsPerItem, long itemBytes) {
        long row = sweepRowBytes(c, seq);
        int rows = rows(row, c, seq);
        while (rows > 1 && rows * row + openItems(rows, rowsPerItem) * itemBytes > bytes) {
            rows--;
        }
        return rows;
    }

    private static long openItems(int rows, int rowsPerItem) {
        return Math.min(rows, (rows + rowsPerItem - 1) / rowsPerItem + 1);
    }

    /**
     * Samples of one pass of a decomposition method at {@code bytesPerSample} each, whose largest tensor holds
     * {@code largestPerSample} bytes a sample: at least 1, at most maxRows, the largest tensor within its limit.
     */
    public int samples(long bytesPerSample, long largestPerSample) {
        return (int) Math.max(1, Math.min(Math.min(maxRows, bytes / bytesPerSample),
                largestTensorBytes / largestPerSample));
    }

    /** Rows of one forward-only pass at {@code seq} tokens. */
    public int forwardRows(ModelConfig c, int seq) {
        return rows(forwardRowBytes(c, seq), c, seq);
    }

    private int rows(long rowBytes, ModelConfig c, int seq) {
        long attentionRow = 4L * c.numHeads() * seq * seq;
        return (int) Math.max(1, Math.min(Math.min(maxRows, bytes / rowBytes), largestTensorBytes / attentionRow));
    }

    /**
     * Fails unless one row of {@code seq} tokens fits the budget, naming the length, the need and the budget:
     * checked for the model's maximum length before any work starts.
     */
    public void requireFits(ModelConfig c, int seq, boolean gradients, long itemBytes) {
        long need = gradients ? sweepRowBytes(c, seq) + itemBytes : forwardRowBytes(c, seq);
        if (need > bytes) {
            throw new IllegalArgumentException(String.format(java.util.Locale.ROOT,
                    "memory_mb: one %s row of %d tokens (the model's maximum length) needs about %d MB of activation "
                            + "memory, but the budget is %d MB; raise memory_mb (job key engine.memory_mb) to at "
                            + "least %d", gradients ? "forward+backward" : "forward", seq, ceilMb(need), bytes / MB,
                    ceilMb(need)));
        }
    }

    private static long ceilMb(long bytes) {
        return (bytes + MB - 1) / MB;
    }
}
