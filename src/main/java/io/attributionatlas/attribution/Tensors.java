package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;

/** Copies NDArrays into nested Java arrays (results outlive the batch's native memory). */
final class Tensors {

    private Tensors() {
    }

    static float[][] to2d(NDArray a) {
        long[] s = a.getShape().getShape();
        float[] flat = a.toFloatArray();
        float[][] out = new float[(int) s[0]][(int) s[1]];
        for (int i = 0; i < out.length; i++) {
            System.arraycopy(flat, i * out[i].length, out[i], 0, out[i].length);
        }
        return out;
    }

    static float[][][] to3d(NDArray a) {
        long[] s = a.getShape().getShape();
        return fold3(a.toFloatArray(), (int) s[0], (int) s[1], (int) s[2], 0);
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
}
