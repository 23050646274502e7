package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Scalars;
import java.util.ArrayList;
import java.util.List;

/**
 * Head × head similarity of one sample's attention maps, reduced where the attention is (on the model's device):
 * for heads x and y (flat index layer · H + head, P = L · H of them) the mean over the sample's query rows i of
 * the Jensen–Shannon distance between A_x[i, :] and A_y[i, :], √JSD with log base 2, in [0, 1] (DESIGN, as Clark
 * et al.). Only the P × P values cross to the host, not the [L][H][S][S] maps.
 *
 * <p>Each term is 0.5 (p log(p / m) + q log(q / m)) with m = (p + q) / 2, summed over keys, in float64: the
 * ratio form has no cancellation when two heads nearly agree, and √ of a small divergence would magnify float32
 * rounding. Head pairs go in blocks of [X, Y, n, n] within the memory budget's largest tensor.
 */
final class HeadSimilarity {

    /** Keeps 0 · log 0 at 0 (attention to padding and masked keys is exactly 0). */
    private static final float TINY = 1e-30f;

    /** A block of head pairs [x0, x1) × [y0, y1) and where its [X, Y] values start in the transfer. */
    record Block(int x0, int x1, int y0, int y1, int offset) {
    }

    private HeadSimilarity() {
    }

    /** Whether a sample is among the {@code rate} share that get similarities: decided by its tokens alone. */
    static boolean chosen(EncodedText text, double rate) {
        return rate >= 1 || new java.util.SplittableRandom(java.util.Arrays.hashCode(text.ids()) * 0x9E3779B97F4A7C15L)
                .nextDouble() < rate;
    }

    /**
     * Queues sample {@code b}'s similarities (its first {@code n} positions of a pass's per-layer [B, H, S, S]
     * attention) into {@code transfer}, in blocks of at most {@code blockBytes} each; only blocks with pairs x < y.
     */
    static List<Block> add(List<NDArray> attentions, int b, int n, long blockBytes, HostTransfer transfer) {
        int heads = (int) attentions.get(0).getShape().get(1);
        int p = attentions.size() * heads;
        long pairBytes = (long) n * n * Double.BYTES;
        int y = (int) Math.max(1, Math.min(p, blockBytes / pairBytes));
        int x = (int) Math.max(1, Math.min(p, blockBytes / (pairBytes * y)));
        List<Block> blocks = new ArrayList<>();
        try (NDScope scope = new NDScope()) {
            NDList maps = new NDList();
            for (NDArray a : attentions) {
                maps.add(a.get(new NDIndex("{}, :, :{}, :{}", b, n, n)));
            }
            NDArray all = (maps.size() == 1 ? maps.get(0) : NDArrays.concat(maps, 0)).toType(DataType.FLOAT64, false);
            NDArray tiny = Scalars.of(all, TINY);
            NDArray logs = all.add(tiny).log(); // [P, n, n]
            for (int x0 = 0; x0 < p; x0 += x) {
                int x1 = Math.min(p, x0 + x);
                for (int y0 = (x0 / y) * y; y0 < p; y0 += y) {
                    int y1 = Math.min(p, y0 + y);
                    if (y1 - 1 <= x0) {
                        continue; // no pair with x < y
                    }
                    try (NDScope block = new NDScope()) {
                        NDArray js = distances(all, logs, tiny, x0, x1, y0, y1);
                        NDScope.unregister(js);
                        blocks.add(new Block(x0, x1, y0, y1, transfer.addOwned(js)));
                    }
                }
            }
        }
        return blocks;
    }

    /** Mean JS distance over rows for heads [x0, x1) × [y0, y1): [X, Y]. */
    private static NDArray distances(NDArray all, NDArray logs, NDArray tiny, int x0, int x1, int y0, int y1) {
        NDArray px = all.get(x0 + ":" + x1).expandDims(1); // [X, 1, n, n]
        NDArray qy = all.get(y0 + ":" + y1).expandDims(0); // [1, Y, n, n]
        NDArray logP = logs.get(x0 + ":" + x1).expandDims(1);
        NDArray logQ = logs.get(y0 + ":" + y1).expandDims(0);
        NDArray logM = px.add(qy).mul(Scalars.of(all, 0.5f)).add(tiny).log(); // [X, Y, n, n]
        NDArray terms = px.mul(logP.sub(logM)).add(qy.mul(logQ.sub(logM)));
        NDArray divergence = terms.sum(new int[] {-1}).mul(Scalars.of(all, (float) (0.5 / Math.log(2)))); // bits
        return divergence.maximum(Scalars.of(all, 0f)).sqrt().mean(new int[] {-1});
    }

    /**
     * The sample's P × P distances (row-major, x < y filled, the rest 0) from the fetched blocks.
     */
    static float[] read(List<Block> blocks, HostTransfer.Fetched host, int p) {
        float[] out = new float[p * p];
        for (Block k : blocks) {
            int width = k.y1() - k.y0();
            for (int x = k.x0(); x < k.x1(); x++) {
                float[] row = host.row(k.offset() + (x - k.x0()) * width, width);
                for (int y = Math.max(k.y0(), x + 1); y < k.y1(); y++) {
                    out[x * p + y] = row[y - k.y0()];
                }
            }
        }
        return out;
    }
}
