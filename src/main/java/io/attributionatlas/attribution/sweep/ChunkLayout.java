package io.attributionatlas.attribution.sweep;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.index.NDIndex;
import java.util.ArrayList;
import java.util.List;
import java.util.function.ToIntFunction;

/**
 * Which rows of one sweep chunk belong to which item: consecutive segments, each an item's consecutive points
 * (ascending α). Only the first segment can continue an item from the chunk before (its points then start past
 * 0) and only the last can continue into the next. Conductance also needs the first item's last rows of the chunk
 * before ({@link #carried()} of them, kept by the item): its {@link #carryPairs} couple them with the chunk's rows.
 *
 * <p>Everything per item is computed with a fixed number of tensor operations per chunk: a per-row coefficient
 * vector for each diagonal of {@link PathWeights}, and {@link #reduce} sums every item's rows at once (equal-length
 * segments as one reshaped block, the first and last apart).
 */
public final class ChunkLayout<T> {

    /** An item's rows {@code start .. start + count} of the chunk: its points {@code firstPoint ..}. */
    public record Segment<T>(T item, int start, int count, int firstPoint) {
    }

    private final List<Segment<T>> segments;
    private final int rows;
    private final int seq;
    private final int perItem;
    private final int carried;
    private final Object[] itemOfRow;
    private final int[] pointOfRow;

    private ChunkLayout(List<Segment<T>> segments, ToIntFunction<T> length, int rows, int perItem, int band) {
        this.segments = segments;
        this.rows = rows;
        this.perItem = perItem;
        Segment<T> first = segments.get(0);
        this.carried = Math.min(band, first.firstPoint());
        this.itemOfRow = new Object[rows];
        this.pointOfRow = new int[rows];
        int longest = 0;
        for (Segment<T> s : segments) {
            longest = Math.max(longest, length.applyAsInt(s.item()));
            for (int k = 0; k < s.count(); k++) {
                itemOfRow[s.start() + k] = s.item();
                pointOfRow[s.start() + k] = s.firstPoint() + k;
            }
        }
        this.seq = longest;
    }

    /** The chunk of {@code rows} rows starting at point {@code firstPoint} of {@code open.get(0)}. */
    public static <T> ChunkLayout<T> of(List<T> open, ToIntFunction<T> length, int firstPoint, int rows, int perItem, int band) {
        List<Segment<T>> segments = new ArrayList<>();
        int row = 0;
        int point = firstPoint;
        for (int i = 0; row < rows; i++) {
            int count = Math.min(rows - row, perItem - point);
            segments.add(new Segment<>(open.get(i), row, count, point));
            row += count;
            point = 0;
        }
        return new ChunkLayout<>(segments, length, rows, perItem, band);
    }

    public int rows() {
        return rows;
    }

    /** The chunk's token axis: its longest item's length. */
    public int seq() {
        return seq;
    }

    public List<Segment<T>> segments() {
        return segments;
    }

    public Segment<T> first() {
        return segments.get(0);
    }

    public Segment<T> last() {
        return segments.get(segments.size() - 1);
    }

    @SuppressWarnings("unchecked")
    public T itemOfRow(int row) {
        return (T) itemOfRow[row];
    }

    public int pointOfRow(int row) {
        return pointOfRow[row];
    }

    public boolean lastContinues() {
        Segment<T> last = last();
        return last.firstPoint() + last.count() < perItem;
    }

    /** Items whose last point is in this chunk: all but a continuing last one. */
    public int finishedItems() {
        return segments.size() - (lastContinues() ? 1 : 0);
    }

    /** The chunk row of each finished item's last point (α = 1, the input). */
    public int[] finishedInputRows() {
        int[] out = new int[finishedItems()];
        for (int i = 0; i < out.length; i++) {
            out[i] = segments.get(i).start() + segments.get(i).count() - 1;
        }
        return out;
    }

    /** How many of the first item's rows of earlier chunks (its last points before this chunk) conductance needs. */
    public int carried() {
        return carried;
    }

    /** A per-point value for every chunk row, e.g. the integrated-gradients weights. */
    public float[] rowWeights(double[] perPoint) {
        float[] out = new float[rows];
        for (int r = 0; r < rows; r++) {
            out[r] = (float) perPoint[pointOfRow[r]];
        }
        return out;
    }

    /**
     * Row-major [offsets, rows]: for diagonal o of W and chunk row r (point a), W[a][a + o] where point a + o is a
     * row of the same item in this chunk; 0 elsewhere (pairs with an earlier row are the {@link #carryPairs}, pairs
     * with a later row are counted by the chunk that has it).
     */
    public float[] coefficients(PathWeights weights) {
        int[] offsets = weights.offsets();
        float[] out = new float[offsets.length * rows];
        for (Segment<T> s : segments) {
            int end = s.start() + s.count();
            for (int r = s.start(); r < end; r++) {
                for (int k = 0; k < offsets.length; k++) {
                    int partner = r + offsets[k];
                    if (partner >= s.start() && partner < end) {
                        out[k * rows + r] = (float) weights.at(pointOfRow[r], pointOfRow[r] + offsets[k]);
                    }
                }
            }
        }
        return out;
    }

    /**
     * A carried row q (the first item's point {@code firstPoint − carried + q}) and a chunk row r of the same item
     * that W couples: {@code gradientInChunk} = W[p_r][p_q] (for g_r ⊙ y_q), {@code gradientCarried} = W[p_q][p_r]
     * (for g_q ⊙ y_r).
     */
    public record CarryPair(int carriedRow, int chunkRow, double gradientInChunk, double gradientCarried) {
    }

    /** The first item's couplings between its carried rows and its rows in this chunk (none without a carry). */
    public List<CarryPair> carryPairs(PathWeights weights) {
        List<CarryPair> pairs = new ArrayList<>();
        Segment<T> first = first();
        for (int q = 0; q < carried; q++) {
            int pq = first.firstPoint() - carried + q;
            for (int r = 0; r < first.count(); r++) {
                int pr = first.firstPoint() + r;
                double inChunk = weights.at(pr, pq);
                double carriedSide = weights.at(pq, pr);
                if (inChunk != 0 || carriedSide != 0) {
                    pairs.add(new CarryPair(q, r, inChunk, carriedSide));
                }
            }
        }
        return pairs;
    }

    /** How many of the last item's last points the next chunk needs: the band, or all it has had so far. */
    public int carryOut(int band) {
        Segment<T> last = last();
        return Math.min(band, last.firstPoint() + last.count());
    }

    /**
     * Sums {@code x} ([rows, ...]) over each item's rows: [items, ...]. Runs of equal-length segments (the complete
     * items) are one reshaped sum; the first and last segments are summed apart.
     */
    public NDArray reduce(NDArray x) {
        NDList parts = new NDList();
        long[] rest = x.getShape().slice(1).getShape();
        int start = 0;
        int i = 0;
        while (i < segments.size()) {
            int length = segments.get(i).count();
            int j = i + 1;
            while (j < segments.size() && segments.get(j).count() == length) {
                j++;
            }
            int count = j - i;
            NDArray block = x.get(new NDIndex("{}:{}", start, start + count * length));
            if (length == 1) {
                parts.add(block); // one row a segment: its rows are its sums (long inputs, one row a chunk)
            } else {
                parts.add(count == 1 ? block.sum(new int[] {0}, true)
                        : block.reshape(prepend(new long[] {count, length}, rest)).sum(new int[] {1}));
            }
            start += count * length;
            i = j;
        }
        return parts.size() == 1 ? parts.get(0) : NDArrays.concat(parts, 0);
    }

    private static long[] prepend(long[] first, long[] rest) {
        long[] out = new long[first.length + rest.length];
        System.arraycopy(first, 0, out, 0, first.length);
        System.arraycopy(rest, 0, out, first.length, rest.length);
        return out;
    }
}
