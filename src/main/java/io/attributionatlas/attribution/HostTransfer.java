package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.types.DataType;
import java.util.ArrayList;
import java.util.List;

/**
 * Device tensors that cross to the host together, as one float array. On a GPU the pieces are concatenated on
 * the device and copied in one transfer (each copy from the device waits for the queued work: one wait per chunk,
 * not one per piece). On a CPU they are host memory already and are read piece by piece, without the
 * concatenated copy.
 */
final class HostTransfer {

    private final List<NDArray> pieces = new ArrayList<>();
    private int size;

    /** Adds a piece (any shape, row-major) and returns where its values start in {@link #fetch()}'s array. */
    int add(NDArray piece) {
        int offset = size;
        pieces.add(piece.getDataType() == DataType.FLOAT32 ? piece : piece.toType(DataType.FLOAT32, false));
        size += Math.toIntExact(piece.size());
        return offset;
    }

    /** Every piece's values, in the order they were added. */
    float[] fetch() {
        float[] out = new float[size];
        if (pieces.isEmpty()) {
            return out;
        }
        if (pieces.get(0).getDevice().isGpu()) {
            NDList flat = new NDList();
            for (NDArray p : pieces) {
                flat.add(p.reshape(-1));
            }
            NDArray all = flat.size() == 1 ? flat.get(0) : NDArrays.concat(flat, 0);
            float[] values = all.toFloatArray();
            System.arraycopy(values, 0, out, 0, size);
            return out;
        }
        int offset = 0;
        for (NDArray p : pieces) {
            float[] values = p.toFloatArray();
            System.arraycopy(values, 0, out, offset, values.length);
            offset += values.length;
        }
        return out;
    }
}
