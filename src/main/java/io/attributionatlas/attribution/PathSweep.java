package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDArrays;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.attribution.sweep.ChunkLayout;
import io.attributionatlas.attribution.sweep.PathWeights;
import io.attributionatlas.attribution.sweep.SweepPoints;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Scalars;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The sweep along the path e(α) = e' + α (e − e') in embedding-output space. Rows = (sample, target) items ×
 * path points, in ascending α per item, chunked into passes whose row count the memory budget gives for the
 * chunk's longest item (padded to it). One forward+backward per chunk yields ∂F/∂(every tapped tensor) for every
 * row. Everything is then reduced on the model's device with a fixed number of tensor operations per chunk and
 * tapped tensor, whatever the number of items and points (see {@link ChunkLayout}): integrated gradients as a
 * weighted sum over each item's rows, conductance as the bilinear form of {@link PathWeights} from shifted views
 * of the chunk's rows. The finished items' results cross to the host in one transfer per chunk
 * ({@link HostTransfer}). An item that continues into the next chunk keeps its partial sums and its last
 * {@link PathWeights#band()} rows of every tapped tensor on the device, never the whole path. Items are pulled
 * from an {@link ItemSource} as the chunks need them and handed back as soon as their last point is done.
 */
final class PathSweep {

    /** Which internals one sweep taps: the single pass taps everything, the naive strategy one thing at a time. */
    record Taps(boolean embedding, boolean headGate, Set<Integer> layers, Set<Integer> attentions) {
    }

    /** Where the sweep gets its items, in ascending length: appends the next ones, false when there are none. */
    interface ItemSource {
        boolean pull(List<Item> into);
    }

    /** Rows of one chunk whose longest item has the given length (the memory budget). */
    interface RowBudget {
        int rows(int length);
    }

    /**
     * One (sample, target). Its results are host arrays, filled in when its last chunk of a sweep is done (the
     * naive strategy fills them sweep by sweep); between chunks, its partial sums and carried rows live on the
     * device in its own manager, closed when the sweep is done with it.
     */
    static final class Item implements AutoCloseable {
        final Sample sample;
        final ResolvedTarget target;
        final long[] baselineIds;
        final int length;
        double fInput = Double.NaN;
        double fBaseline = Double.NaN;
        /** Σ_k w_k ∂F/∂e(α_k) ⊙ (e − e′), summed over hidden [S]. */
        float[] igTokenSum;
        /** Per layer, conductance of its output summed over hidden [S] (null where not computed). */
        final float[][] layerToken;
        /** Per layer, the attention conductance [H][S][S] (null where not computed or not wanted on the host). */
        final float[][][][] attention;
        /** Per layer and head, the reductions of {@link HeadReductions} of the attention conductance (null: none). */
        final float[][][] attentionStatistics;
        final int[][][] relationPairs;
        final float[][][] relationValues;
        float[] gradXInput;
        /** |∂F/∂e| summed over hidden at the input (saliency). */
        float[] saliency;
        float[][] headImportance;
        /** Device state between chunks: partial sums and carried rows, by tensor. */
        private final Map<String, NDArray> state = new HashMap<>();
        private NDManager manager;

        Item(Sample sample, ResolvedTarget target, long[] baselineIds, int layers) {
            this.sample = sample;
            this.target = target;
            this.baselineIds = baselineIds;
            this.length = sample.length();
            this.layerToken = new float[layers][];
            this.attention = new float[layers][][][];
            this.attentionStatistics = new float[layers][][];
            this.relationPairs = new int[layers][][];
            this.relationValues = new float[layers][][];
        }

        /**
         * Keeps a copy of {@code array} (a chunk's) as this item's state under {@code key}: written into the last one
         * in place when the shape is the same, so that an item carried through many chunks (long inputs) does not
         * allocate and free tensors of its size on every chunk, which fragments the allocator's memory.
         */
        void keep(String key, NDArray array, NDManager parent) {
            NDArray previous = state.get(key);
            if (previous != null && previous.getShape().equals(array.getShape())) {
                previous.set(ALL, array);
                return;
            }
            if (manager == null) {
                manager = parent.newSubManager();
            }
            NDArray copy = array.duplicate();
            copy.attach(manager);
            NDScope.unregister(copy);
            state.put(key, copy);
            if (previous != null) {
                previous.close();
            }
        }

        NDArray state(String key) {
            return state.get(key);
        }

        /** Frees the device state (the item is done with this sweep, or the run failed). */
        @Override
        public void close() {
            state.clear();
            if (manager != null) {
                manager.close();
                manager = null;
            }
        }
    }

    private static final NDIndex ALL = new NDIndex("...");

    private final TransformerModel model;
    private final AttributionOptions options;
    private final SweepPoints points;
    private final PathWeights weights;
    private final long padId;
    private final RowBudget rowBudget;

    /** The most bytes of one float64 copy of the layers one grouped reduction joins. */
    private final long reductionGroupBytes;
    /** Takes the wall time spent queuing (on a CPU: computing) the per-head reductions. */
    private final java.util.function.LongConsumer reductionTime;

    PathSweep(TransformerModel model, AttributionOptions options, SweepPoints points, PathWeights weights, long padId,
            RowBudget rowBudget, long reductionGroupBytes, java.util.function.LongConsumer reductionTime) {
        this.model = model;
        this.reductionGroupBytes = reductionGroupBytes;
        this.reductionTime = reductionTime;
        this.rowBudget = rowBudget;
        this.options = options;
        this.points = points;
        this.weights = weights;
        this.padId = padId;
    }

    /** Runs the sweep over all of {@code items} (ascending length), accumulating into them; they stay open. */
    void run(List<Item> items, Taps taps) {
        boolean[] given = {false};
        run(into -> {
            if (given[0]) {
                return false;
            }
            given[0] = true;
            into.addAll(items);
            return true;
        }, taps, item -> { });
    }

    /**
     * Runs the sweep over the items {@code source} gives, pulling them as chunks need rows; each item goes to
     * {@code done} once its last point is accumulated. A chunk takes as many rows as the budget allows at the
     * length of its longest item.
     */
    void run(ItemSource source, Taps taps, Consumer<Item> done) {
        int perItem = points.size();
        List<Item> open = new ArrayList<>();
        int firstPoint = 0; // the next point of open.get(0)
        boolean more = true;
        while (true) {
            if (open.isEmpty()) {
                if (!more || !(more = source.pull(open))) {
                    return;
                }
                continue;
            }
            int rows = rowBudget.rows(open.get(0).length);
            while (true) {
                while (more && (long) open.size() * perItem - firstPoint < rows) {
                    more = source.pull(open);
                }
                int covered = (int) Math.min(rows, (long) open.size() * perItem - firstPoint);
                int longest = 0;
                for (int i = 0; i <= (firstPoint + covered - 1) / perItem; i++) {
                    longest = Math.max(longest, open.get(i).length);
                }
                int allowed = rowBudget.rows(longest);
                if (allowed >= covered) {
                    rows = covered;
                    break;
                }
                rows = allowed;
            }
            runChunk(ChunkLayout.of(open, item -> item.length, firstPoint, rows, perItem, weights.band()), taps);
            int consumed = firstPoint + rows;
            List<Item> finished = open.subList(0, consumed / perItem);
            for (Item item : finished) {
                item.close();
                done.accept(item);
            }
            finished.clear();
            firstPoint = consumed % perItem;
        }
    }

    /** Where a chunk's results lie in its transfer, for the items it finishes (-1: not computed). */
    private record ChunkOffsets(int f, int ig, int[] layers, int[] attentions, int gradXInput, int saliency,
            int gates, HeadReductions.Grouped statistics, List<Integer> reducedLayers, int pairs) {
    }

    /**
     * Per head of the finished items: the categories of their attention conductance, signed and absolute, then the
     * moments of attention at the input against conductance ({@link #ATTENTION_STATISTICS} values in all).
     */
    static final int ATTENTION_STATISTICS = 2 * HeadReductions.CATEGORIES.size() + HeadReductions.MOMENTS;

    private void runChunk(ChunkLayout<Item> chunk, Taps taps) {
        int rows = chunk.rows();
        int seq = chunk.seq();
        int perItem = points.size();
        long[] inputs = new long[4 * rows * seq]; // ids, baseline ids, token types, mask
        float[] alphas = new float[rows];
        java.util.Arrays.fill(inputs, 0, 2 * rows * seq, padId);
        for (int r = 0; r < rows; r++) {
            Item item = chunk.itemOfRow(r);
            alphas[r] = (float) points.alphas()[chunk.pointOfRow(r)];
            long[] itemIds = item.sample.encoding().ids();
            long[] itemTypes = item.sample.encoding().typeIds();
            for (int j = 0; j < item.length; j++) {
                inputs[r * seq + j] = itemIds[j];
                inputs[(rows + r) * seq + j] = item.baselineIds[j];
                inputs[(2 * rows + r) * seq + j] = itemTypes[j];
                inputs[(3 * rows + r) * seq + j] = 1;
            }
        }
        long[] mask = java.util.Arrays.copyOfRange(inputs, 3 * rows * seq, 4 * rows * seq);
        boolean conductance = !taps.layers().isEmpty() || !taps.attentions().isEmpty();
        try (NDManager scope = model.manager().newSubManager()) {
            // Everything the chunk needs from the host goes to the device before any work is queued: on a GPU each
            // copy waits for the queued kernels, so copies in between would stall the pipeline.
            NDArray longs = scope.create(inputs, new Shape(4, rows, seq));
            NDArray alphaArray = scope.create(alphas, new Shape(rows, 1, 1));
            TargetSelection selection = new TargetSelection(chunk, mask, scope);
            NDArray igWeights = options.has(Analysis.INTEGRATED_GRADIENTS) && taps.embedding()
                    ? scope.create(chunk.rowWeights(points.igWeights()), new Shape(rows, 1)) : null;
            Coefficients coefficients = conductance ? Coefficients.of(chunk, weights, scope) : null;
            int[] inputRows = chunk.finishedInputRows();
            NDArray inputIndex = inputRows.length > 0
                    && (taps.embedding() || taps.headGate() || !taps.attentions().isEmpty())
                    ? scope.create(java.util.Arrays.stream(inputRows).asLongStream().toArray()) : null;

            NDArray typeArray = longs.get(2);
            // The path in float32 whatever the model computes in; the forward pass casts its point to the model's type.
            NDArray input = model.embed(longs.get(0), typeArray, scope).toType(DataType.FLOAT32, false);
            NDArray base = options.baseline().isZeroEmbedding() ? input.zerosLike()
                    : model.embed(longs.get(1), typeArray, scope).toType(DataType.FLOAT32, false);
            NDArray difference = input.sub(base);
            NDArray onPath = base.add(difference.mul(alphaArray));

            ForwardOptions forward = new ForwardOptions().startFrom(onPath).mask(longs.get(3))
                    .tapLayers(taps.layers()::contains).tapAttentions(taps.attentions()::contains);
            if (taps.embedding()) {
                forward.tapEmbedding();
            }
            if (taps.headGate()) {
                forward.headGate();
            }
            if (!taps.layers().isEmpty()) {
                forward.keepHiddenStates();
            }
            if (!taps.attentions().isEmpty()) {
                forward.keepAttentions();
            }
            NDArray[] targetValues = new NDArray[1];
            EncodedBatch batch = new EncodedBatch(rows, seq, java.util.Arrays.copyOfRange(inputs, 0, rows * seq),
                    java.util.Arrays.copyOfRange(inputs, 2 * rows * seq, 3 * rows * seq), mask);
            ForwardResult result = model.forwardAndBackward(batch, forward, scope, res -> {
                targetValues[0] = selection.values(res);
                return targetValues[0].sum();
            });

            HostTransfer transfer = new HostTransfer();
            int fAt = transfer.add(targetValues[0]);
            int igAt = -1;
            int gradXInputAt = -1;
            int saliencyAt = -1;
            int gatesAt = -1;
            if (taps.embedding()) {
                NDArray gradient = result.embeddingTap().getGradient().toType(DataType.FLOAT32, false);
                if (igWeights != null) {
                    NDArray perRow = gradient.mul(difference).sum(new int[] {-1}).mul(igWeights); // [rows, S]
                    igAt = toHost(finished(chunk, "ig", chunk.reduce(perRow), scope), transfer);
                }
                if (inputIndex != null && options.has(Analysis.GRAD_X_INPUT)) {
                    NDIndex at = new NDIndex("{}", inputIndex);
                    NDArray g = gradient.get(at);
                    gradXInputAt = transfer.add(g.mul(input.get(at)).sum(new int[] {-1}));
                    saliencyAt = transfer.add(g.abs().sum(new int[] {-1}));
                }
            }
            if (taps.headGate() && inputIndex != null) {
                NDList gates = new NDList();
                result.headGates().forEach(gate -> gates.add(gate.getGradient()));
                gatesAt = transfer.add(NDArrays.stack(gates, 1).get(new NDIndex("{}", inputIndex)).abs());
            }
            int layers = model.config().numLayers();
            int[] layerAt = new int[layers];
            int[] attentionAt = new int[layers];
            java.util.Arrays.fill(layerAt, -1);
            java.util.Arrays.fill(attentionAt, -1);
            for (int l : taps.layers()) {
                NDArray sums;
                try (NDScope layer = new NDScope()) { // a layer's terms go before the next layer's
                    sums = conduct(chunk, "layer" + l, result.hiddenStates().get(l),
                            result.layerTaps().get(l).getGradient(), coefficients, true);
                }
                layerAt[l] = toHost(finished(chunk, "layer" + l, sums, scope), transfer);
            }
            HeadReductions.Masks masks = taps.attentions().isEmpty() || inputRows.length == 0
                    || !options.headStatistics() ? null
                    : new HeadReductions.Masks(chunk.segments().subList(0, inputRows.length).stream()
                            .map(segment -> segment.item().sample.encoding()).toList(), seq,
                            model.config().family(), scope);
            boolean matrices = chunk.segments().subList(0, inputRows.length).stream()
                    .anyMatch(segment -> segment.item().sample.matrices());
            int pairs = Math.min(HeadReductions.RELATION_PAIRS, seq * seq);
            // the per-head statistics of all tapped layers, a group of layers at a time; the matrices where wanted
            HeadReductions.Grouping grouping = masks == null ? null : new HeadReductions.Grouping(
                    taps.attentions().size(), model.config().numHeads(), ATTENTION_STATISTICS + 2 * pairs,
                    reductionGroupBytes, (c, a) -> {
                        NDList top = HeadReductions.topPairs(c, masks, pairs);
                        return NDArrays.concat(new NDList(HeadReductions.categories(c, masks, false),
                                HeadReductions.categories(c, masks, true), HeadReductions.moments(a, c, masks),
                                top.get(0), top.get(1)), 2);
                    }, transfer);
            List<Integer> reduced = new ArrayList<>();
            Map<Integer, NDArray> finishedByLayer = new java.util.LinkedHashMap<>();
            for (int l : taps.attentions()) {
                NDArray sums;
                try (NDScope layer = new NDScope()) {
                    sums = conduct(chunk, "attention" + l, result.attentions().get(l),
                            result.attentionTaps().get(l).getGradient(), coefficients, false);
                }
                NDArray finished = finished(chunk, "attention" + l, sums, scope);
                if (finished == null) {
                    continue;
                }
                finishedByLayer.put(l, finished);
                if (grouping != null) {
                    long t0 = System.nanoTime();
                    NDArray attention = result.attentions().get(l);
                    grouping.add(finished, () -> attention.get(new NDIndex("{}", inputIndex)), false);
                    reduced.add(l);
                    reductionTime.accept(System.nanoTime() - t0);
                }
            }
            HeadReductions.Grouped statistics = null;
            if (grouping != null) {
                long t0 = System.nanoTime();
                statistics = grouping.finish();
                reductionTime.accept(System.nanoTime() - t0);
            }
            finishedByLayer.forEach((l, finished) -> {
                if (matrices) {
                    attentionAt[l] = transfer.addOwned(finished);
                } else {
                    finished.close();
                }
            });
            HostTransfer.Fetched host = transfer.fetch();
            unpack(chunk, host, new ChunkOffsets(fAt, igAt, layerAt, attentionAt, gradXInputAt, saliencyAt, gatesAt,
                    statistics, reduced, pairs), taps);
        }
    }

    /**
     * A chunk's conductance coefficients on the device, shared by every tapped tensor: W's diagonals per row
     * [offsets, rows], where they are non-zero (only with several items: see {@link #conduct}), and the first
     * item's carry pairs with their two weights each, W[p_r][p_q] and W[p_q][p_r].
     */
    private record Coefficients(NDArray rows, NDArray partners, List<ChunkLayout.CarryPair> carryPairs,
            NDArray carryWeights) {

        static Coefficients of(ChunkLayout<Item> chunk, PathWeights weights, NDManager scope) {
            NDArray rows = scope.create(chunk.coefficients(weights), new Shape(weights.offsets().length, chunk.rows()));
            NDArray partners = chunk.segments().size() > 1 ? rows.neq(Scalars.of(rows, 0f)) : null;
            List<ChunkLayout.CarryPair> pairs = chunk.carryPairs(weights);
            float[] carry = new float[2 * pairs.size()];
            for (int k = 0; k < pairs.size(); k++) {
                carry[2 * k] = (float) pairs.get(k).gradientInChunk();
                carry[2 * k + 1] = (float) pairs.get(k).gradientCarried();
            }
            return new Coefficients(rows, partners, pairs, pairs.isEmpty() ? null : scope.create(carry));
        }
    }

    /**
     * Conductance of one tapped tensor y (gradients g) over the chunk, per item: Σ_r g_r ⊙ U_r with
     * U_r = Σ_o W[p_r][p_r + o] y_{r+o} over the partners in the chunk, plus the first item's couplings with its
     * carried rows; for layer outputs summed over hidden ([items, S]), for attention [items, H, S, S]. Keeps the
     * last item's last rows when it continues.
     */
    private NDArray conduct(ChunkLayout<Item> chunk, String key, NDArray y, NDArray g, Coefficients coefficients,
            boolean tokenSums) {
        // Accumulated in float32 whatever the model computes in.
        NDArray values = y.toType(DataType.FLOAT32, false);
        NDArray gradients = g.toType(DataType.FLOAT32, false);
        int rows = chunk.rows();
        int[] offsets = weights.offsets();
        long[] broadcast = new long[(int) y.getShape().dimension()];
        java.util.Arrays.fill(broadcast, 1);
        broadcast[0] = rows;
        Shape perRow = new Shape(prepend(offsets.length, broadcast));
        NDArray coefficientRows = coefficients.rows().reshape(perRow);
        // Where a row's partner belongs to another item its coefficient is 0, but 0 × NaN is NaN: with several items
        // the terms are selected instead, so that one sample's non-finite values never reach its neighbours.
        NDArray partners = coefficients.partners() == null ? null : coefficients.partners().reshape(perRow);
        // U starts as the diagonal's term where W has one (it covers every row), else as zeros
        NDArray u = null;
        for (int k : weights.diagonalFirst()) {
            int o = offsets[k];
            int from = Math.max(0, -o);
            int to = Math.min(rows, rows - o);
            if (from >= to) {
                continue;
            }
            NDIndex range = new NDIndex("{}:{}", from, to);
            NDArray term = values.get(new NDIndex("{}:{}", from + o, to + o)).mul(coefficientRows.get(k).get(range));
            if (partners != null) {
                Shape full = term.getShape(); // expanded views: DJL's where does not broadcast
                NDArray selected = NDArrays.where(partners.get(k).get(range).broadcast(full), term,
                        Scalars.of(term, 0f).broadcast(full));
                term.close();
                term = selected;
            }
            if (u == null) {
                if (o == 0) {
                    u = term;
                    continue;
                }
                u = values.zerosLike();
            }
            u.get(range).addi(term);
            term.close(); // one term of the tensor's size at a time
        }
        if (u == null) {
            u = values.zerosLike();
        }
        Item first = chunk.first().item();
        int n = first.length;
        List<ChunkLayout.CarryPair> carryPairs = coefficients.carryPairs();
        NDArray carryCoefficients = coefficients.carryWeights();
        NDArray carriedValues = carryPairs.isEmpty() ? null : first.state(key + "/y");
        NDArray carriedGradients = carryPairs.isEmpty() ? null : first.state(key + "/g");
        NDArray carriedTerms = null; // Σ g_q ⊙ W[p_q][p_r] y_r over the carried rows q, at the item's length
        for (int k = 0; k < carryPairs.size(); k++) { // one row of the tensor's size at a time
            ChunkLayout.CarryPair pair = carryPairs.get(k);
            NDIndex carried = new NDIndex("{}:{}", pair.carriedRow(), pair.carriedRow() + 1);
            NDIndex inChunk = new NDIndex("{}:{}", pair.chunkRow(), pair.chunkRow() + 1);
            NDArray scaled = carriedValues.get(carried).mul(carryCoefficients.get(2 * k));
            toLength(u.get(inChunk), n).addi(scaled);
            scaled.close();
            NDArray term = carriedGradients.get(carried).mul(toLength(values.get(inChunk), n))
                    .muli(carryCoefficients.get(2 * k + 1));
            if (carriedTerms == null) {
                carriedTerms = term;
            } else {
                carriedTerms.addi(term);
                term.close();
            }
        }
        NDArray z = u.muli(gradients);
        NDArray sums = chunk.reduce(tokenSums ? z.sum(new int[] {-1}) : z);
        if (carriedTerms != null) {
            NDArray own = tokenSums ? carriedTerms.sum(new int[] {-1}) : carriedTerms;
            sums.get(ownPart(0, n, sums.getShape().dimension() - 1)).addi(own.reshape(own.getShape().slice(1)));
        }
        if (chunk.lastContinues()) {
            carryOut(chunk, key + "/y", values);
            carryOut(chunk, key + "/g", gradients);
        }
        NDScope.unregister(sums);
        return sums;
    }

    /**
     * Keeps the continuing last item's last {@link PathWeights#band()} rows of a tensor (at its own length): its rows
     * in this chunk, preceded by its carried ones when it has fewer rows here.
     */
    private void carryOut(ChunkLayout<Item> chunk, String key, NDArray tensor) {
        ChunkLayout.Segment<Item> last = chunk.last();
        Item item = last.item();
        int keep = chunk.carryOut(weights.band());
        int fromChunk = Math.min(keep, last.count());
        int end = last.start() + last.count();
        NDArray rows = toLength(tensor.get(new NDIndex("{}:{}", end - fromChunk, end)), item.length);
        if (fromChunk < keep) { // the item's earlier rows: it has been carried from chunk to chunk
            NDArray earlier = item.state(key);
            long had = earlier.getShape().get(0);
            rows = NDArrays.concat(new NDList(earlier.get(new NDIndex("{}:", had - (keep - fromChunk))), rows), 0);
        }
        item.keep(key, rows, model.manager());
    }

    /**
     * Adds the first item's partial sums from earlier chunks to its row of {@code sums} ([items, S, ...]), keeps
     * the last item's row as its partial when it continues, and returns the finished items' rows (null when the
     * chunk finishes none).
     */
    private NDArray finished(ChunkLayout<Item> chunk, String key, NDArray sums, NDManager scope) {
        sums.attach(scope);
        ChunkLayout.Segment<Item> first = chunk.first();
        if (first.firstPoint() > 0) {
            NDArray partial = first.item().state(key);
            NDIndex own = ownPart(0, first.item().length, sums.getShape().dimension() - 1);
            sums.get(own).addi(partial);
        }
        int items = chunk.segments().size();
        if (chunk.lastContinues()) {
            Item last = chunk.last().item();
            last.keep(key, sums.get(ownPart(items - 1, last.length, sums.getShape().dimension() - 1)),
                    model.manager());
        }
        int finished = chunk.finishedItems();
        if (finished == 0) {
            sums.close(); // all of it is the continuing item's partial now: free it before the next layer's
            return null;
        }
        return finished == items ? sums : sums.get(new NDIndex("0:{}", finished));
    }

    /** Adds the finished rows to the transfer, which frees them; −1 when there are none. */
    private static int toHost(NDArray finished, HostTransfer transfer) {
        return finished == null ? -1 : transfer.addOwned(finished);
    }

    /** Row {@code row} of [items, S, ...] restricted to the item's own {@code n} tokens in each token axis. */
    private static NDIndex ownPart(int row, int n, long tokenAxes) {
        StringBuilder s = new StringBuilder(Integer.toString(row));
        long heads = tokenAxes == 3 ? 1 : 0; // attention: [H, S, S]
        for (int a = 0; a < tokenAxes; a++) {
            s.append(a < heads ? ", :" : ", :" + n);
        }
        return new NDIndex(s.toString());
    }

    /**
     * Rows [k, S, ...] cut to the item's {@code n} tokens in each token axis (layer outputs [k, S, d], attention
     * [k, H, S, S]).
     */
    private static NDArray toLength(NDArray rows, int n) {
        return rows.getShape().dimension() == 4 ? rows.get(new NDIndex(":, :, :{}, :{}", n, n))
                : rows.get(new NDIndex(":, :{}", n));
    }

    private static long[] prepend(long first, long[] rest) {
        long[] out = new long[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }

    /** Copies the chunk's host values into the items: F at α = 0 and 1, and everything of the finished items. */
    private void unpack(ChunkLayout<Item> chunk, HostTransfer.Fetched host, ChunkOffsets at, Taps taps) {
        int seq = chunk.seq();
        int heads = model.config().numHeads();
        int layers = model.config().numLayers();
        for (int r = 0; r < chunk.rows(); r++) {
            double alpha = points.alphas()[chunk.pointOfRow(r)];
            if (alpha == 0) {
                chunk.itemOfRow(r).fBaseline = host.value(at.f() + r);
            }
            if (alpha == 1) {
                chunk.itemOfRow(r).fInput = host.value(at.f() + r);
            }
        }
        for (int i = 0; i < chunk.finishedItems(); i++) {
            Item item = chunk.segments().get(i).item();
            int n = item.length;
            if (at.ig() >= 0) {
                item.igTokenSum = host.row(at.ig() + i * seq, n);
            }
            if (at.gradXInput() >= 0) {
                item.gradXInput = host.row(at.gradXInput() + i * seq, n);
                item.saliency = host.row(at.saliency() + i * seq, n);
            }
            if (at.gates() >= 0) {
                item.headImportance = new float[layers][];
                for (int l = 0; l < layers; l++) {
                    item.headImportance[l] = host.row(at.gates() + (i * layers + l) * heads, heads);
                }
            }
            for (int l : taps.layers()) {
                item.layerToken[l] = host.row(at.layers()[l] + i * seq, n);
            }
            for (int l : taps.attentions()) {
                if (at.attentions()[l] >= 0 && item.sample.matrices()) {
                    item.attention[l] = Tensors.heads(host, at.attentions()[l], i, heads, seq, n);
                }
                int t = at.reducedLayers().indexOf(l);
                if (t < 0) {
                    continue;
                }
                item.attentionStatistics[l] = new float[heads][];
                item.relationPairs[l] = new int[heads][];
                item.relationValues[l] = new float[heads][];
                int k = at.pairs();
                for (int h = 0; h < heads; h++) {
                    float[] row = at.statistics().row(host, t, i, h); // statistics, then k indices, then k values
                    item.attentionStatistics[l][h] = java.util.Arrays.copyOf(row, ATTENTION_STATISTICS);
                    int real = 0;
                    while (real < k && row[ATTENTION_STATISTICS + real] >= 0) {
                        real++;
                    }
                    item.relationPairs[l][h] = new int[real];
                    item.relationValues[l][h] = java.util.Arrays.copyOfRange(row, ATTENTION_STATISTICS + k,
                            ATTENTION_STATISTICS + k + real);
                    for (int p = 0; p < real; p++) { // i · seq + j in the padded chunk → i · n + j
                        int flatIndex = (int) row[ATTENTION_STATISTICS + p];
                        item.relationPairs[l][h][p] = flatIndex / seq * n + flatIndex % seq;
                    }
                }
            }
        }
    }

    /**
     * Which output of every row is F: its target's logit or probability (QA: at the target position, or the
     * maximum). The selections are created on the device before the chunk's work is queued.
     */
    private final class TargetSelection {
        private final NDArray classSelect;
        private final NDArray additiveMask;
        private final NDArray selectStart;
        private final NDArray selectEnd;
        private final NDArray startRows;

        TargetSelection(ChunkLayout<Item> chunk, long[] mask, NDManager scope) {
            int rows = chunk.rows();
            int seq = chunk.seq();
            if (model.config().task() != io.attributionatlas.model.Task.QUESTION_ANSWERING) {
                int classes = model.config().labels().size();
                float[] select = new float[rows * classes];
                for (int i = 0; i < rows; i++) {
                    select[i * classes + chunk.itemOfRow(i).target.index()] = 1;
                }
                classSelect = scope.create(select, new Shape(rows, classes));
                additiveMask = selectStart = selectEnd = startRows = null;
                return;
            }
            classSelect = null;
            // Question answering: padded positions are excluded from softmax and max.
            float[] qa = new float[3 * rows * seq + rows]; // additive mask, start selection, end selection, is-start
            for (int i = 0; i < rows; i++) {
                ResolvedTarget t = chunk.itemOfRow(i).target;
                qa[3 * rows * seq + i] = t.isStart() ? 1 : 0;
                qa[(t.isStart() ? rows : 2 * rows) * seq + i * seq + t.index()] = 1;
                for (int j = 0; j < seq; j++) {
                    qa[i * seq + j] = mask[i * seq + j] == 1 ? 0 : -Float.MAX_VALUE;
                }
            }
            NDArray all = scope.create(qa);
            Shape shape = new Shape(rows, seq);
            additiveMask = all.get(new NDIndex("0:{}", rows * seq)).reshape(shape);
            selectStart = all.get(new NDIndex("{}:{}", rows * seq, 2 * rows * seq)).reshape(shape);
            selectEnd = all.get(new NDIndex("{}:{}", 2 * rows * seq, 3 * rows * seq)).reshape(shape);
            startRows = all.get(new NDIndex("{}:", 3 * rows * seq));
        }

        NDArray values(ForwardResult r) {
            if (classSelect != null) {
                // softmax in float32: adding a float32 tensor promotes a bf16/fp16 model's logits, and unlike a cast
                // it stays in the differentiated graph
                NDArray logits = r.logits().getDataType() == DataType.FLOAT32 ? r.logits()
                        : r.logits().add(classSelect.zerosLike());
                NDArray out = options.output() == Output.PROBABILITY ? logits.softmax(-1) : logits;
                return out.mul(classSelect).sum(new int[] {-1});
            }
            NDArray start = r.startLogits().add(additiveMask);
            NDArray end = r.endLogits().add(additiveMask);
            if (options.output() == Output.PROBABILITY) {
                start = start.softmax(-1);
                end = end.softmax(-1);
            }
            if (options.qaReduction() == QaReduction.MAX) {
                NDArray endRows = Scalars.of(startRows, 1f).sub(startRows);
                return start.max(new int[] {-1}).mul(startRows).add(end.max(new int[] {-1}).mul(endRows));
            }
            // Padded positions hold -MAX logits; the selections are 0 there, so mask them out before multiplying.
            NDArray realStart = options.output() == Output.PROBABILITY ? start : r.startLogits();
            NDArray realEnd = options.output() == Output.PROBABILITY ? end : r.endLogits();
            return realStart.mul(selectStart).sum(new int[] {-1}).add(realEnd.mul(selectEnd).sum(new int[] {-1}));
        }
    }
}
