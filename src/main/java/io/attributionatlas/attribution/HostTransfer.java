package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;

/**
 * Device tensors that cross to the host together, as one float array. On a GPU the pieces are kept until
 * {@link #fetch()}, concatenated on the device and copied in one transfer (each copy from the device waits for the
 * queued work: one wait per chunk, not one per piece). On a CPU they are host memory already: each piece is read
 * when it is added, so pieces the transfer owns can be freed at once instead of all living until the fetch.
 */
final class HostTransfer {

    private final List<NDArray> pieces = new ArrayList<>();
    private final List<Boolean> owned = new ArrayList<>();
    private final List<float[]> read = new ArrayList<>();
    private int size;

    /** Adds a piece (any shape, row-major) that its owner frees; returns where its values start in the fetch. */
    int add(NDArray piece) {
        return add(piece, false);
    }

    /** Adds a piece that nothing else uses: the transfer frees it once its values are read. */
    int addOwned(NDArray piece) {
        return add(piece, true);
    }

    /** Adds a piece made inside an {@link ai.djl.ndarray.NDScope}: taken out of it, and freed once read. */
    int addFromScope(NDArray piece) {
        ai.djl.ndarray.NDScope.unregister(piece);
        return add(piece, true);
    }

    private int add(NDArray piece, boolean own) {
        int offset = size;
        size += Math.toIntExact(piece.size());
        NDArray values = piece.getDataType() == DataType.FLOAT32 ? piece : piece.toType(DataType.FLOAT32, false);
        if (piece.getDevice().isGpu()) {
            pieces.add(values);
            owned.add(own);
            return offset;
        }
        read.add(values.toFloatArray());
        if (values != piece) {
            values.close();
        }
        if (own) {
            piece.close();
        }
        return offset;
    }

    /** Every piece's values, addressed by the offsets {@link #add} returned. */
    Fetched fetch() {
        if (pieces.isEmpty()) {
            Fetched out = new Fetched(read.toArray(new float[0][]));
            read.clear();
            return out;
        }
        NDList flat = new NDList();
        for (NDArray p : pieces) {
            flat.add(p.reshape(-1));
        }
        NDArray all = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0);
        Fetched out = new Fetched(new float[][] {all.toFloatArray()});
        if (all != flat.get(0)) {
            all.close();
        }
        for (int i = 0; i < pieces.size(); i++) {
            if (owned.get(i)) {
                pieces.get(i).close();
            }
        }
        pieces.clear();
        owned.clear();
        return out;
    }

    /**
     * The fetched values as the pieces were read (one array from a GPU; one per piece on a CPU, where joining them
     * would copy every value once more): {@link #row} reads within one piece, as every row of a tensor lies in one.
     */
    static final class Fetched {
        private final float[][] parts;
        private final int[] starts;

        Fetched(float[][] pieces) {
            // empty pieces hold no offsets; without them the starts ascend strictly
            this.parts = java.util.Arrays.stream(pieces).filter(p -> p.length > 0).toArray(float[][]::new);
            this.starts = new int[parts.length];
            for (int i = 1; i < this.parts.length; i++) {
                starts[i] = starts[i - 1] + parts[i - 1].length;
            }
        }

        /** The {@code n} values from {@code from}. */
        float[] row(int from, int n) {
            int part = part(from);
            int at = from - starts[part];
            return java.util.Arrays.copyOfRange(parts[part], at, at + n);
        }

        float value(int at) {
            int part = part(at);
            return parts[part][at - starts[part]];
        }

        private int part(int offset) {
            int i = java.util.Arrays.binarySearch(starts, offset);
            return i >= 0 ? i : -i - 2;
        }
    }
}
