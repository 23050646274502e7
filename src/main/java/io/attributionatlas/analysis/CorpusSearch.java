package io.attributionatlas.analysis;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.model.OfflineEngine;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Exact nearest neighbours by cosine over a corpus of vectors (exBERT's search over contextual token embeddings),
 * on the model's device: the vectors are normalised once into row blocks of {@value #BLOCK_ROWS}; a batch of queries
 * is one matrix product per block and a top-k on the device, merged on the host. Exact, so it needs no index
 * parameters and equals a brute-force scan; 1M vectors of 384 take 1.5 GB of device memory.
 */
public final class CorpusSearch implements AutoCloseable {

    /** Rows per device block: a block's scores for 64 queries stay at 16 MB. */
    static final int BLOCK_ROWS = 65_536;

    private final NDManager manager;
    private final int dimension;
    private final int blockRows;
    private final List<NDArray> blocks = new ArrayList<>();
    private final float[] pending;
    private int pendingRows;
    private int size;

    /** One query's neighbours, nearest first: their rows (in the order added) and cosine similarities. */
    public record Neighbours(int[] rows, float[] cosines) {
    }

    public CorpusSearch(int dimension, Device device) {
        this(dimension, device, BLOCK_ROWS);
    }

    /** With blocks of {@code blockRows} rows (tests use small ones to merge many blocks). */
    CorpusSearch(int dimension, Device device, int blockRows) {
        OfflineEngine.ensure();
        this.dimension = dimension;
        this.blockRows = blockRows;
        this.manager = NDManager.newBaseManager(device, "PyTorch");
        this.pending = new float[blockRows * dimension];
    }

    /** Adds a vector as the next row. */
    public void add(float[] vector) {
        if (vector.length != dimension) {
            throw new IllegalArgumentException("vector of " + vector.length + " values in a search of dimension "
                    + dimension);
        }
        addAll(vector, 1);
    }

    /** Adds {@code rows} vectors stored one after another in {@code values}, copied once into the pending block. */
    public void addAll(float[] values, int rows) {
        int from = 0;
        while (from < rows) {
            int n = Math.min(rows - from, blockRows - pendingRows);
            System.arraycopy(values, from * dimension, pending, pendingRows * dimension, n * dimension);
            pendingRows += n;
            size += n;
            from += n;
            if (pendingRows == blockRows) {
                flush();
            }
        }
    }

    public int size() {
        return size;
    }

    /** The stored vector of a row, normalised to unit length. */
    public float[] vector(int row) {
        flush();
        return blocks.get(row / blockRows).get(row % blockRows).toFloatArray();
    }

    /** The {@code k} rows of largest cosine to each query, nearest first (ties: the lower row first). */
    public Neighbours[] search(float[][] queries, int k) {
        flush();
        int q = queries.length;
        float[] flat = new float[q * dimension];
        for (int i = 0; i < q; i++) {
            System.arraycopy(queries[i], 0, flat, i * dimension, dimension);
        }
        List<float[]> scores = new ArrayList<>();
        List<long[]> rows = new ArrayList<>();
        List<Integer> taken = new ArrayList<>();
        try (NDManager scope = manager.newSubManager()) {
            NDArray query = normalised(scope.create(flat, new Shape(q, dimension))).transpose(); // [D, Q]
            for (NDArray block : blocks) {
                NDArray s = block.matMul(query); // [rows, Q]
                int kb = (int) Math.min(k, block.getShape().get(0));
                NDList top = s.topK(kb, 0, true, true); // values and indices [kb, Q]
                scores.add(top.get(0).toFloatArray());
                rows.add(top.get(1).toLongArray());
                taken.add(kb);
            }
        }
        Neighbours[] out = new Neighbours[q];
        for (int i = 0; i < q; i++) {
            List<long[]> candidates = new ArrayList<>(); // {row, score bits} of every block's top k
            for (int b = 0; b < scores.size(); b++) {
                int kb = taken.get(b);
                for (int j = 0; j < kb; j++) {
                    candidates.add(new long[] {(long) b * blockRows + rows.get(b)[j * q + i],
                        Float.floatToIntBits(scores.get(b)[j * q + i])});
                }
            }
            candidates.sort((x, y) -> {
                int c = Float.compare(Float.intBitsToFloat((int) y[1]), Float.intBitsToFloat((int) x[1]));
                return c != 0 ? c : Long.compare(x[0], y[0]);
            });
            int n = Math.min(k, candidates.size());
            int[] r = new int[n];
            float[] c = new float[n];
            for (int j = 0; j < n; j++) {
                r[j] = (int) candidates.get(j)[0];
                c[j] = Float.intBitsToFloat((int) candidates.get(j)[1]);
            }
            out[i] = new Neighbours(r, c);
        }
        return out;
    }

    /** Moves the rows added since the last block to the device as a normalised block. */
    private void flush() {
        if (pendingRows == 0) {
            return;
        }
        try (NDManager scope = manager.newSubManager()) {
            NDArray raw = scope.create(Arrays.copyOf(pending, pendingRows * dimension), new Shape(pendingRows,
                    dimension));
            NDArray block = normalised(raw);
            block.attach(manager);
            blocks.add(block);
        }
        pendingRows = 0;
    }

    /** Rows divided by their length (a zero row stays zero). */
    private static NDArray normalised(NDArray rows) {
        NDArray norms = rows.square().sum(new int[] {1}, true).sqrt();
        return rows.div(norms.maximum(io.attributionatlas.model.Scalars.of(norms, 1e-12f)));
    }

    @Override
    public void close() {
        manager.close();
    }
}
