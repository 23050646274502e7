package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.attribution.TargetSpec.Output;
import io.attributionatlas.attribution.TargetSpec.QaReduction;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * The sweep along the path e(α) = e' + α (e − e') in embedding-output space. Rows = (sample, target)
 * items × path points, in ascending α per item, chunked into batches whose row count the memory budget
 * gives for the batch's longest item (padded to it). One forward+backward per batch yields ∂F/∂(every
 * tapped tensor) for every row; integrated gradients, conductance and the α = 1 analyses are accumulated
 * point by point, on the model's device. Only the last chain points of an item are carried from one batch
 * to the next, never the whole path. Items are pulled from an {@link ItemSource} as the batches need them
 * and handed back as soon as their last point is done.
 */
final class PathSweep {

    /** Which internals one sweep taps: the single pass taps everything, the naive strategy one thing at a time. */
    record Taps(boolean embedding, boolean headGate, Set<Integer> layers, Set<Integer> attentions) {
    }

    /** Where the sweep gets its items, in ascending length: appends the next ones, false when there are none. */
    interface ItemSource {
        boolean pull(List<Item> into);
    }

    /** Rows of one batch whose longest item has the given length (the memory budget). */
    interface RowBudget {
        int rows(int length);
    }

    /** One (sample, target) and its accumulators; device state lives in its own manager, closed with it. */
    static final class Item implements AutoCloseable {
        final Sample sample;
        final ResolvedTarget target;
        final long[] baselineIds;
        final int length;
        double fInput = Double.NaN;
        double fBaseline = Double.NaN;
        double[] igGradientSum;
        float[] inputMinusBaseline;
        float[] gradXInput;
        /** |∂F/∂e| summed over hidden at the input (saliency). */
        float[] saliency;
        float[][] headImportance;
        final double[][] layerToken;
        /** Per layer, the attention conductance so far [H, S, S], on the device. */
        final NDArray[] attention;
        /** Per layer, the last chain points of the previous batches (for the next intervals). */
        final ChainCarry[] layerCarry;
        final ChainCarry[] attentionCarry;
        private NDManager manager;

        Item(Sample sample, ResolvedTarget target, long[] baselineIds, int layers) {
            this.sample = sample;
            this.target = target;
            this.baselineIds = baselineIds;
            this.length = sample.length();
            this.layerToken = new double[layers][];
            this.attention = new NDArray[layers];
            this.layerCarry = new ChainCarry[layers];
            this.attentionCarry = new ChainCarry[layers];
            for (int l = 0; l < layers; l++) {
                layerCarry[l] = new ChainCarry();
                attentionCarry[l] = new ChainCarry();
            }
        }

        /** Moves {@code array} (of a batch) into this item's device state: a copy that outlives the batch. */
        NDArray keep(NDArray array, NDManager parent) {
            if (manager == null) {
                manager = parent.newSubManager();
            }
            NDArray copy = array.duplicate();
            copy.attach(manager);
            NDScope.unregister(copy);
            return copy;
        }

        @Override
        public void close() {
            if (manager != null) {
                manager.close();
                manager = null;
            }
        }
    }

    /**
     * An item's chain state for one tensor: how many chain points came before, and the last {@code count} of
     * them in slots that are allocated once and overwritten in place (fresh copies per batch would fragment
     * the allocator's memory).
     */
    static final class ChainCarry {
        int seen;
        int count;
        final List<NDArray> values = new ArrayList<>();
        final List<NDArray> gradients = new ArrayList<>();
        final List<Double> alphas = new ArrayList<>();
    }

    private static final NDIndex ALL = new NDIndex("...");

    private final TransformerModel model;
    private final AttributionOptions options;
    private final SweepPoints points;
    private final long padId;
    private final RowBudget rowBudget;

    PathSweep(TransformerModel model, AttributionOptions options, SweepPoints points, long padId, RowBudget rowBudget) {
        this.model = model;
        this.rowBudget = rowBudget;
        this.options = options;
        this.points = points;
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
     * Runs the sweep over the items {@code source} gives, pulling them as batches need rows; each item goes to
     * {@code done} once its last point is accumulated. A batch takes as many rows as the budget allows at the
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
            runBatch(open, firstPoint, rows, taps);
            int consumed = firstPoint + rows;
            List<Item> finished = open.subList(0, consumed / perItem);
            finished.forEach(done);
            finished.clear();
            firstPoint = consumed % perItem;
        }
    }

    private void runBatch(List<Item> items, long firstRow, int rows, Taps taps) {
        int perItem = points.size();
        int longest = 0;
        for (int r = 0; r < rows; r++) {
            longest = Math.max(longest, items.get((int) ((firstRow + r) / perItem)).length);
        }
        final int seq = longest;
        long[] ids = new long[rows * seq];
        long[] baseIds = new long[rows * seq];
        long[] types = new long[rows * seq];
        long[] mask = new long[rows * seq];
        float[] alphas = new float[rows];
        java.util.Arrays.fill(ids, padId);
        java.util.Arrays.fill(baseIds, padId);
        for (int r = 0; r < rows; r++) {
            Item item = items.get((int) ((firstRow + r) / perItem));
            alphas[r] = (float) points.alphas()[(int) ((firstRow + r) % perItem)];
            long[] itemIds = item.sample.encoding().ids();
            long[] itemTypes = item.sample.encoding().typeIds();
            for (int j = 0; j < item.length; j++) {
                ids[r * seq + j] = itemIds[j];
                baseIds[r * seq + j] = item.baselineIds[j];
                types[r * seq + j] = itemTypes[j];
                mask[r * seq + j] = 1;
            }
        }
        try (NDManager scope = model.manager().newSubManager()) {
            EncodedBatch batch = new EncodedBatch(rows, seq, ids, types, mask);
            Shape shape = new Shape(rows, seq);
            NDArray typeArray = scope.create(types, shape);
            NDArray input = model.embed(scope.create(ids, shape), typeArray, scope);
            NDArray base = options.baseline().isZeroEmbedding() ? input.zerosLike()
                    : model.embed(scope.create(baseIds, shape), typeArray, scope);
            NDArray difference = input.sub(base);
            NDArray onPath = base.add(difference.mul(scope.create(alphas, new Shape(rows, 1, 1))));

            ForwardOptions forward = new ForwardOptions().startFrom(onPath)
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
            ForwardResult result = model.forwardAndBackward(batch, forward, scope, res -> {
                targetValues[0] = targetValues(res, items, firstRow, rows, mask, seq, scope);
                return targetValues[0].sum();
            });
            float[] f = targetValues[0].toFloatArray();

            for (int r = 0; r < rows; ) {
                int itemIndex = (int) ((firstRow + r) / perItem);
                int firstPoint = (int) ((firstRow + r) % perItem);
                int count = Math.min(rows - r, perItem - firstPoint);
                accumulate(items.get(itemIndex), r, firstPoint, count, f, result, input, difference, taps);
                r += count;
            }
        }
    }

    /** F of every row: its target's logit or probability (QA: at the target position, or the maximum). */
    private NDArray targetValues(ForwardResult r, List<Item> items, long firstRow, int rows, long[] mask, int seq,
            NDManager scope) {
        int perItem = points.size();
        if (r.logits() != null) {
            int classes = (int) r.logits().getShape().get(1);
            float[] select = new float[rows * classes];
            for (int i = 0; i < rows; i++) {
                select[i * classes + items.get((int) ((firstRow + i) / perItem)).target.index()] = 1;
            }
            NDArray out = options.output() == Output.PROBABILITY ? r.logits().softmax(-1) : r.logits();
            return out.mul(scope.create(select, new Shape(rows, classes))).sum(new int[] {-1});
        }
        // Question answering: padded positions are excluded from softmax and max.
        float[] additiveMask = new float[rows * seq];
        float[] selectStart = new float[rows * seq];
        float[] selectEnd = new float[rows * seq];
        float[] isStart = new float[rows];
        for (int i = 0; i < rows; i++) {
            ResolvedTarget t = items.get((int) ((firstRow + i) / perItem)).target;
            isStart[i] = t.isStart() ? 1 : 0;
            (t.isStart() ? selectStart : selectEnd)[i * seq + t.index()] = 1;
            for (int j = 0; j < seq; j++) {
                additiveMask[i * seq + j] = mask[i * seq + j] == 1 ? 0 : -Float.MAX_VALUE;
            }
        }
        Shape shape = new Shape(rows, seq);
        NDArray maskArray = scope.create(additiveMask, shape);
        NDArray start = r.startLogits().add(maskArray);
        NDArray end = r.endLogits().add(maskArray);
        if (options.output() == Output.PROBABILITY) {
            start = start.softmax(-1);
            end = end.softmax(-1);
        }
        NDArray startRows = scope.create(isStart, new Shape(rows));
        if (options.qaReduction() == QaReduction.MAX) {
            NDArray endRows = startRows.neg().add(1f);
            return start.max(new int[] {-1}).mul(startRows).add(end.max(new int[] {-1}).mul(endRows));
        }
        // Padded positions hold -MAX logits; the selections are 0 there, so mask them out before multiplying.
        NDArray realStart = options.output() == Output.PROBABILITY ? start : r.startLogits();
        NDArray realEnd = options.output() == Output.PROBABILITY ? end : r.endLogits();
        return realStart.mul(scope.create(selectStart, shape)).sum(new int[] {-1})
                .add(realEnd.mul(scope.create(selectEnd, shape)).sum(new int[] {-1}));
    }

    /** Adds the contributions of an item's rows {@code r0 .. r0+count} (its points firstPoint ..) to it. */
    private void accumulate(Item item, int r0, int firstPoint, int count, float[] f, ForwardResult result,
            NDArray input, NDArray difference, Taps taps) {
        // Everything an item's accumulation creates is freed when it is done, except what the item keeps.
        try (NDScope itemScope = new NDScope()) {
            accumulateInScope(item, r0, firstPoint, count, f, result, input, difference, taps);
        }
    }

    private void accumulateInScope(Item item, int r0, int firstPoint, int count, float[] f, ForwardResult result,
            NDArray input, NDArray difference, Taps taps) {
        int n = item.length;
        int inputRow = -1;
        for (int k = 0; k < count; k++) {
            double alpha = points.alphas()[firstPoint + k];
            if (alpha == 0) {
                item.fBaseline = f[r0 + k];
            }
            if (alpha == 1) {
                item.fInput = f[r0 + k];
                inputRow = r0 + k;
            }
        }
        NDIndex rowsOfItem = new NDIndex("{}:{}, :{}", r0, r0 + count, n);
        if (taps.embedding()) {
            NDArray gradient = result.embeddingTap().getGradient();
            if (options.has(Analysis.INTEGRATED_GRADIENTS)) {
                float[] w = new float[count];
                for (int k = 0; k < count; k++) {
                    w[k] = (float) points.igWeights()[firstPoint + k];
                }
                NDArray weighted = gradient.get(rowsOfItem)
                        .mul(gradient.getManager().create(w, new Shape(count, 1, 1))).sum(new int[] {0});
                item.igGradientSum = add(item.igGradientSum, weighted.toFloatArray());
                if (item.inputMinusBaseline == null) {
                    item.inputMinusBaseline = difference.get(new NDIndex("{}, :{}", r0, n)).toFloatArray();
                }
            }
            if (inputRow >= 0 && options.has(Analysis.GRAD_X_INPUT)) {
                NDIndex row = new NDIndex("{}, :{}", inputRow, n);
                item.gradXInput = gradient.get(row).mul(input.get(row)).sum(new int[] {-1}).toFloatArray();
                item.saliency = gradient.get(row).abs().sum(new int[] {-1}).toFloatArray();
            }
        }
        if (taps.headGate() && inputRow >= 0) {
            item.headImportance = new float[result.headGates().size()][];
            for (int l = 0; l < item.headImportance.length; l++) {
                item.headImportance[l] = result.headGates().get(l).getGradient().get(inputRow).abs().toFloatArray();
            }
        }
        // Conductance: the item's chain rows within the batch (under Captum's rule, integrated gradients' own
        // points lie between them).
        List<Integer> chainRows = new ArrayList<>();
        for (int k = 0; k < count; k++) {
            if (points.inChain()[firstPoint + k]) {
                chainRows.add(k);
            }
        }
        if (chainRows.isEmpty()) {
            return;
        }
        boolean chainContinues = false;
        for (int k = firstPoint + count; k < points.size(); k++) {
            chainContinues |= points.inChain()[k];
        }
        double[] chainAlphas = new double[chainRows.size()];
        for (int k = 0; k < chainAlphas.length; k++) {
            chainAlphas[k] = points.alphas()[firstPoint + chainRows.get(k)];
        }
        for (int l : taps.layers()) {
            try (NDScope layer = new NDScope()) {
                NDArray hidden = result.hiddenStates().get(l);
                NDArray gradient = result.layerTaps().get(l).getGradient();
                List<NDArray> y = new ArrayList<>();
                List<NDArray> g = new ArrayList<>();
                for (int k : chainRows) {
                    y.add(hidden.get(new NDIndex("{}, :{}", r0 + k, n)));
                    g.add(gradient.get(new NDIndex("{}, :{}", r0 + k, n)));
                }
                NDArray c = conduct(item, y, g, chainAlphas, item.layerCarry[l], chainContinues);
                if (c != null) {
                    item.layerToken[l] = add(item.layerToken[l], c.sum(new int[] {-1}).toFloatArray());
                }
            }
        }
        for (int l : taps.attentions()) {
            try (NDScope layer = new NDScope()) { // a layer's [H, S, S] terms go before the next layer's
                NDArray attention = result.attentions().get(l);
                NDArray gradient = result.attentionTaps().get(l).getGradient();
                List<NDArray> y = new ArrayList<>();
                List<NDArray> g = new ArrayList<>();
                for (int k : chainRows) {
                    y.add(attention.get(new NDIndex("{}, :, :{}, :{}", r0 + k, n, n)));
                    g.add(gradient.get(new NDIndex("{}, :, :{}, :{}", r0 + k, n, n)));
                }
                NDArray c = conduct(item, y, g, chainAlphas, item.attentionCarry[l], chainContinues);
                if (c != null) {
                    if (item.attention[l] == null) {
                        item.attention[l] = item.keep(c, model.manager());
                    } else {
                        item.attention[l].addi(c);
                    }
                }
            }
        }
    }

    /**
     * The conductance contributed by the intervals that end at this batch's chain points, for one item and
     * tensor y (with its gradients g): each interval adds Σ_ij W_ij g_i ⊙ y_j over a small stencil of chain
     * points (see {@link ConductanceRule#intervalWeights}). The carried last points of earlier batches
     * complete the stencils across batch boundaries; the carry is updated. Null when no interval ends here.
     */
    private NDArray conduct(Item item, List<NDArray> y, List<NDArray> g, double[] alphas, ChainCarry carry,
            boolean chainContinues) {
        // The chain's points as views: the carried ones, then this batch's. No concatenation and no gathered
        // copies: at 512 tokens those are tensors of tens of MB per point, and building them dominated the sweep.
        int carried = carry.count;
        List<NDArray> ys = new ArrayList<>(carry.values.subList(0, carried));
        List<NDArray> gs = new ArrayList<>(carry.gradients.subList(0, carried));
        ys.addAll(y);
        gs.addAll(g);
        double[] pointAlphas = new double[carried + alphas.length];
        for (int k = 0; k < carried; k++) {
            pointAlphas[k] = carry.alphas.get(k);
        }
        System.arraycopy(alphas, 0, pointAlphas, carried, alphas.length);
        ConductanceRule rule = options.conductance();
        List<int[]> stencils = new ArrayList<>();
        List<double[][]> weights = new ArrayList<>();
        for (int p = carried; p < pointAlphas.length; p++) {
            int global = carry.seen + (p - carried);
            rule.intervals(global, p, pointAlphas, points.pointsConductance(), stencils, weights);
        }
        NDArray sum = null;
        for (int k = 0; k < stencils.size(); k++) {
            int[] stencil = stencils.get(k);
            double[][] w = weights.get(k);
            for (int a = 0; a < stencil.length; a++) {
                for (int b = 0; b < stencil.length; b++) {
                    if (w[a][b] == 0) {
                        continue;
                    }
                    NDArray term = gs.get(stencil[a]).mul(ys.get(stencil[b])).muli((float) w[a][b]);
                    if (sum == null) {
                        sum = term;
                    } else {
                        sum.addi(term);
                        term.close();
                    }
                }
            }
        }
        int total = pointAlphas.length;
        int keep = Math.min(total, rule.pointsCarried());
        carry.seen += alphas.length;
        // Slot j takes point total − keep + j ≥ j: in ascending j a slot is read before it is overwritten.
        carry.count = chainContinues ? keep : 0;
        for (int j = 0; j < carry.count; j++) {
            int point = total - keep + j;
            if (j == carry.values.size()) {
                carry.values.add(item.keep(ys.get(point), model.manager()));
                carry.gradients.add(item.keep(gs.get(point), model.manager()));
                carry.alphas.add(pointAlphas[point]);
            } else if (point != j) {
                carry.values.get(j).set(ALL, ys.get(point));
                carry.gradients.get(j).set(ALL, gs.get(point));
                carry.alphas.set(j, pointAlphas[point]);
            }
        }
        return sum;
    }

    private static double[] add(double[] sum, float[] values) {
        double[] s = sum == null ? new double[values.length] : sum;
        for (int i = 0; i < values.length; i++) {
            s[i] += values[i];
        }
        return s;
    }
}
