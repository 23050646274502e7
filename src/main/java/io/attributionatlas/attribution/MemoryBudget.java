package io.attributionatlas.attribution;

import io.attributionatlas.model.ModelConfig;

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
 * (value and gradient): 4 · L · (1 + 2·carried) · (H·S² + S·d) bytes ({@link #sweepItemBytes}); a chunk of r
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

    /** The budget of {@code megabytes} for a model on {@code device}, at most {@code maxRows} rows a pass. */
    public static MemoryBudget of(int megabytes, int maxRows, ai.djl.Device device) {
        return new MemoryBudget(megabytes * MB, maxRows, device.isGpu() ? Long.MAX_VALUE : CPU_LARGEST_TENSOR_BYTES);
    }

    /** Estimated peak bytes of one forward+backward row of the sweep at {@code seq} tokens. */
    public static long sweepRowBytes(ModelConfig c, int seq) {
        return rowBytes(c, seq, 4, 8, 3);
    }

    /** Estimated peak bytes of one forward-only row at {@code seq} tokens. */
    public static long forwardRowBytes(ModelConfig c, int seq) {
        return rowBytes(c, seq, 2, 3, 1);
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
        return perLayer == 0 ? 0 : 4L * c.numLayers() * (1 + 2L * carriedPoints) * perLayer;
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
