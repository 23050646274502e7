package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.types.DataType;

/**
 * Copies NDArrays, or host values a {@link HostTransfer} fetched, into nested Java arrays (results outlive the
 * batch's native memory).
 */
public final class Tensors {

    private Tensors() {
    }

    public static float[][][] to3d(NDArray a) {
        long[] s = a.getShape().getShape();
        return fold3(a.toType(DataType.FLOAT32, false).toFloatArray(), (int) s[0], (int) s[1], (int) s[2], 0);
    }

    private static float[][][] fold3(float[] flat, int a, int b, int c, int offset) {
        float[][][] out = new float[a][b][c];
        for (int i = 0; i < a; i++) {
            for (int j = 0; j < b; j++) {
                System.arraycopy(flat, offset + (i * b + j) * c, out[i][j], 0, c);
            }
        }
        return out;
    }

    /**
     * Row {@code b} of a row-major [rows, heads, S, S] block starting at {@code offset}, cut to [heads][n][n]: one
     * sample's real tokens of a padded pass.
     */
    static float[][][] heads(HostTransfer.Fetched host, int offset, int b, int heads, int seq, int n) {
        return block(host, offset, b, heads, seq, n, seq, n);
    }

    /**
     * Row b's first n rows of each head of a [rows, heads, seq, width] tensor, each cut to its first {@code length}
     * values: [heads][n][length].
     */
    static float[][][] block(HostTransfer.Fetched host, int offset, int b, int heads, int seq, int n, int width,
            int length) {
        float[][][] out = new float[heads][n][];
        for (int h = 0; h < heads; h++) {
            for (int i = 0; i < n; i++) {
                out[h][i] = host.row(offset + ((b * heads + h) * seq + i) * width, length);
            }
        }
        return out;
    }
}
