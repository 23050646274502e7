package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.Scalars;
import java.util.List;

/**
 * The per-sample, per-head statistics of a pass's [B, H, S, S] weight tensors, reduced where the tensors are (on
 * the model's device), with padding masked: only [B, H, k] numbers cross to the host. Everything is summed in
 * float64, as the host reference does.
 *
 * <ul>
 *   <li>{@link #categories}: Clark et al.'s categories of a weight matrix W[i][j] (query i → key j) over the n real
 *       tokens, each Σ over matching entries / n: self (j = i), next (j = i+1), previous (j = i−1), [CLS] (j = 0, a
 *       special token), [SEP] (other special tokens), punctuation ("." and ",", also as BPE and SentencePiece write
 *       them after a space: "Ġ.", "▁,").</li>
 *   <li>{@link #entropies}: mean over queries of −Σ A′ log A′ with A′ = 0.9999 A + 0.0001/n, and the [CLS] row's.</li>
 *   <li>{@link #moments}: per head, the means, centred sums of squares and co-moment of attention and conductance
 *       over the n² pairs, which give the per-sample Pearson r and merge exactly into the pooled one.</li>
 *   <li>{@link #topPairs}: per head, the {@link #RELATION_PAIRS} pairs (i, j) with the largest |conductance|.</li>
 * </ul>
 */
public final class HeadReductions {

    /** Clark et al.'s categories, in the order {@link #categories} returns them. */
    public static final List<String> CATEGORIES = List.of("self", "next", "prev", "cls", "sep", "punct");
    /** Values per head from {@link #entropies}: entropy, cls_entropy. */
    static final int ENTROPIES = 2;
    /** Values per head from {@link #moments}: mean a, mean c, Σ(a − ā)², Σ(c − c̄)², Σ(a − ā)(c − c̄). */
    static final int MOMENTS = 5;
    /**
     * Token pairs per head, (sample, target) and layer that enter head_relations: the ones with the largest
     * |conductance|. A sample of n tokens has n² pairs per head; corpus-wide top relations are made of pairs that
     * are large within their samples, and 64 a head keep the host's share O(L·H·64) whatever n is.
     */
    public static final int RELATION_PAIRS = 64;

    private HeadReductions() {
    }

    /**
     * The masks of a pass's samples, padded to {@code seq}, on the device: which keys are real, which are [CLS],
     * other special tokens and punctuation, and the samples' lengths. Built once per pass, shared by every layer.
     */
    static final class Masks {
        /** [B, 1, S, S]: 1 where query and key are both real tokens. */
        final NDArray pairs;
        /** [B, 1, S, 3]: key is [CLS] (position 0, special), another special token, punctuation. */
        final NDArray keyCategories;
        /** [B, 1, 1]: n. */
        final NDArray lengths;
        /** [S², 3]: the diagonals j = i, j = i + 1, j = i − 1 as columns of the flattened S × S matrix. */
        final NDArray bands;

        Masks(List<EncodedText> texts, int seq, EncoderFamily family, NDManager scope) {
            int b = texts.size();
            double[] real = new double[b * seq];
            double[] keys = new double[b * seq * 3];
            double[] n = new double[b];
            for (int s = 0; s < b; s++) {
                EncodedText e = texts.get(s);
                n[s] = e.length();
                for (int j = 0; j < e.length(); j++) {
                    real[s * seq + j] = 1;
                    int at = (s * seq + j) * 3;
                    keys[at] = e.special()[j] && j == 0 ? 1 : 0;
                    keys[at + 1] = e.special()[j] && j != 0 ? 1 : 0;
                    keys[at + 2] = family.isPunctuation(e.tokens()[j]) ? 1 : 0;
                }
            }
            double[] band = new double[seq * seq * 3];
            for (int i = 0; i < seq; i++) {
                band[(i * seq + i) * 3] = 1;
                if (i + 1 < seq) {
                    band[(i * seq + i + 1) * 3 + 1] = 1;
                }
                if (i > 0) {
                    band[(i * seq + i - 1) * 3 + 2] = 1;
                }
            }
            NDArray tokens = scope.create(real, new Shape(b, 1, seq)); // 1 for real tokens
            pairs = tokens.expandDims(3).mul(tokens.expandDims(2)); // [B, 1, S, S]
            keyCategories = scope.create(keys, new Shape(b, 1, seq, 3));
            lengths = scope.create(n, new Shape(b, 1, 1));
            bands = scope.create(band, new Shape((long) seq * seq, 3));
        }
    }

    /** Real query–key pairs of {@code w} ([B, H, S, S], any type) as a new float64 tensor, padding zeroed. */
    private static NDArray real(NDArray w, Masks m) {
        return w.toType(DataType.FLOAT64, true).muli(m.pairs);
    }

    // Each reduction runs in its own NDScope, so its temporaries are freed when it returns and only its small result
    // stays; with in-place operations the largest of them holds three float64 [B, H, S, S] tensors at once
    // (MemoryBudget.REDUCTION_TEMPORARIES counts them).

    /** Runs a reduction in a scope of its own; its results join the caller's scope. */
    private static NDList scoped(java.util.function.Supplier<NDList> reduction) {
        NDList out;
        try (NDScope scope = new NDScope()) {
            out = reduction.get();
            NDScope.unregister(out);
        }
        out.forEach(NDScope::register);
        return out;
    }

    /** The six categories of every head of every sample: [B, H, 6] (of |W| when {@code absolute}). */
    static NDArray categories(NDArray w, Masks m, boolean absolute) {
        return scoped(() -> {
            NDArray x = absolute ? real(w.abs(), m) : real(w, m);
            long[] s = x.getShape().getShape();
            NDArray diagonals = x.reshape(s[0], s[1], s[2] * s[3]).matMul(m.bands); // [B, H, 3]
            NDArray columns = x.sum(new int[] {2}).expandDims(2).matMul(m.keyCategories).squeeze(2); // [B, H, 3]
            return new NDList(diagonals.concat(columns, 2).div(m.lengths));
        }).get(0);
    }

    /** Mean row entropy and the [CLS] row's entropy of every head: [B, H, 2]. */
    static NDArray entropies(NDArray a, Masks m) {
        return scoped(() -> {
            // A′ over the n real keys of the n real queries
            NDArray smoothed = real(a, m).muli(Scalars.of(a, 0.9999f))
                    .addi(Scalars.of(a, 0.0001f).div(m.lengths.expandDims(3)));
            NDArray terms = smoothed.log().muli(smoothed).muli(m.pairs);
            NDArray rows = terms.sum(new int[] {-1}).neg(); // [B, H, S], 0 for padded queries
            NDArray mean = rows.sum(new int[] {-1}, true).div(m.lengths); // [B, H, 1]
            return new NDList(mean.concat(rows.get(new NDIndex(":, :, 0:1")), 2));
        }).get(0);
    }

    /** Per head, the moments of attention {@code a} and conductance {@code c} over the real pairs: [B, H, 5]. */
    static NDArray moments(NDArray a, NDArray c, Masks m) {
        return scoped(() -> {
            NDArray count = m.lengths.square().expandDims(3); // [B, 1, 1, 1]
            NDArray dx = real(a, m);
            NDArray meanX = dx.sum(new int[] {2, 3}, true).div(count); // [B, H, 1, 1]
            dx.subi(meanX).muli(m.pairs);
            NDArray dy = real(c, m);
            NDArray meanY = dy.sum(new int[] {2, 3}, true).div(count);
            dy.subi(meanY).muli(m.pairs);
            NDArray coMoment = dx.mul(dy).sum(new int[] {2, 3}, true);
            NDList parts = new NDList(meanX, meanY, dx.muli(dx).sum(new int[] {2, 3}, true),
                    dy.muli(dy).sum(new int[] {2, 3}, true), coMoment);
            return new NDList(NDArrays.concat(parts, 3).squeeze(new int[] {2})); // [B, H, 5]
        }).get(0);
    }

    /**
     * Per head, the {@code k} real pairs with the largest |c| ({@code c} [B, H, S, S]): their flat indices i · S + j
     * and signed values, as [B, H, k] each; a sample with fewer than k real pairs pads with index −1.
     */
    static NDList topPairs(NDArray c, Masks m, int k) {
        return scoped(() -> topPairsInScope(c, m, k));
    }

    private static NDList topPairsInScope(NDArray c, Masks m, int k) {
        NDArray x = c.toType(DataType.FLOAT32, false);
        NDArray pairs = m.pairs.toType(DataType.FLOAT32, false);
        // padded pairs rank below every real one (|c| ≥ 0 > −1)
        NDArray magnitude = x.abs().mul(pairs).add(pairs.sub(Scalars.of(x, 1f)));
        long[] s = x.getShape().getShape();
        NDArray flat = magnitude.reshape(s[0], s[1], s[2] * s[3]);
        NDList top = flat.topK(Math.min(k, (int) (s[2] * s[3])), -1, true, true);
        NDArray indices = top.get(1);
        NDArray values = x.reshape(s[0], s[1], s[2] * s[3]).gather(indices, 2);
        NDArray padded = top.get(0).lt(Scalars.of(x, 0f)); // a padded pair was chosen
        NDArray index = indices.toType(DataType.FLOAT32, false);
        index = NDArrays.where(padded, index.zerosLike().sub(Scalars.of(x, 1f)), index);
        return new NDList(index, values);
    }

    /** Where a grouped reduction's [B, g·H, width] blocks lie in a transfer, by position in the reduced list. */
    static final class Grouped {
        private final int[] offset;
        private final int[] groupHeads;
        private final int[] firstHead;
        private final int heads;
        final int width;

        private Grouped(int tensors, int heads, int width) {
            offset = new int[tensors];
            groupHeads = new int[tensors];
            firstHead = new int[tensors];
            this.heads = heads;
            this.width = width;
        }

        /** Tensor t's values for sample b and head h. */
        float[] row(HostTransfer.Fetched host, int t, int b, int h) {
            return host.row(offset[t] + (b * groupHeads[t] + firstHead[t] + h) * width, width);
        }

        /** Sample b's [t][H][width]. */
        float[][][] sample(HostTransfer.Fetched host, int b) {
            float[][][] out = new float[offset.length][heads][];
            for (int t = 0; t < offset.length; t++) {
                for (int h = 0; h < heads; h++) {
                    out[t][h] = row(host, t, b, h);
                }
            }
            return out;
        }
    }

    /** What a grouped reduction computes from a group's [B, g·H, S, S] tensors (and the matching second ones). */
    interface GroupReduction {
        NDArray apply(NDArray first, NDArray second);
    }

    /**
     * Reduces per-layer tensors [B, H, S, S] in groups of consecutive layers joined along the head axis, each group's
     * float64 copy within {@code maxBytes} (at least one layer a group): a handful of large operations instead of as
     * many per layer, which on a CPU is most of the cost at short lengths. Tensors are added one layer at a time
     * and a group is reduced as soon as it is full, so at most one group waits; each group's [B, g·H, width] goes
     * into the transfer.
     */
    static final class Grouping {
        private final long maxBytes;
        private final GroupReduction reduction;
        private final HostTransfer transfer;
        private final Grouped out;
        private final List<NDArray> first = new java.util.ArrayList<>();
        private final List<java.util.function.Supplier<NDArray>> second = new java.util.ArrayList<>();
        private final List<Boolean> owned = new java.util.ArrayList<>();
        private int added;
        private int done;
        private long pendingBytes;

        Grouping(int tensors, int heads, int width, long maxBytes, GroupReduction reduction, HostTransfer transfer) {
            this.maxBytes = maxBytes;
            this.reduction = reduction;
            this.transfer = transfer;
            this.out = new Grouped(tensors, heads, width);
        }

        /**
         * Adds the next layer's tensor and, if the reduction takes one, a supplier of the matching second tensor
         * (made when the group is reduced, and freed with it); an {@code owned} tensor is freed once reduced.
         */
        void add(NDArray tensor, java.util.function.Supplier<NDArray> matching, boolean own) {
            long[] s = tensor.getShape().getShape();
            long bytes = 8 * s[0] * s[1] * s[2] * s[3];
            if (!first.isEmpty() && pendingBytes + bytes > maxBytes) {
                flush();
            }
            first.add(tensor);
            second.add(matching);
            owned.add(own);
            pendingBytes += bytes;
            added++;
        }

        /** Reduces what waits; where each tensor's values lie. */
        Grouped finish() {
            flush();
            return out;
        }

        private void flush() {
            if (first.isEmpty()) {
                return;
            }
            int heads = (int) first.get(0).getShape().get(1);
            try (NDScope group = new NDScope()) {
                NDArray x = joined(first);
                NDArray y = second.get(0) == null ? null
                        : joined(second.stream().map(java.util.function.Supplier::get).toList());
                int offset = transfer.addFromScope(reduction.apply(x, y));
                for (int t = done; t < added; t++) {
                    out.offset[t] = offset;
                    out.groupHeads[t] = (added - done) * heads;
                    out.firstHead[t] = (t - done) * heads;
                }
            }
            for (int k = 0; k < first.size(); k++) {
                if (owned.get(k)) {
                    first.get(k).close();
                }
            }
            first.clear();
            second.clear();
            owned.clear();
            pendingBytes = 0;
            done = added;
        }
    }

    private static NDArray joined(List<NDArray> layers) {
        return layers.size() == 1 ? layers.get(0) : NDArrays.concat(new NDList(layers), 1);
    }

    /** Value {@code c} of every head: [L][H]. */
    static float[][] column(float[][][] values, int c) {
        float[][] out = new float[values.length][];
        for (int l = 0; l < values.length; l++) {
            out[l] = new float[values[l].length];
            for (int h = 0; h < values[l].length; h++) {
                out[l][h] = values[l][h][c];
            }
        }
        return out;
    }
}
