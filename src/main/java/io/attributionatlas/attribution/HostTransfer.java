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

    /** Every piece's values, in the order they were added. */
    float[] fetch() {
        float[] out;
        if (pieces.isEmpty()) {
            out = new float[size];
            int offset = 0;
            for (float[] values : read) {
                System.arraycopy(values, 0, out, offset, values.length);
                offset += values.length;
            }
            read.clear();
            return out;
        }
        NDList flat = new NDList();
        for (NDArray p : pieces) {
            flat.add(p.reshape(-1));
        }
        NDArray all = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0);
        out = all.toFloatArray();
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
}
