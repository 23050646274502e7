package io.attributionatlas.attribution;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.NDScope;
import ai.djl.ndarray.index.NDIndex;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Prediction;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TransformerModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;

/**
 * The explainer's forward pass at the input, over a group of samples: the predictions, the forward-only analyses
 * (attention, norms, rollout), their per-head statistics ({@link HeadReductions}) and head similarity, reduced on
 * the device; the [L][H][S][S] matrices copied to the host only for the samples that want them.
 */
final class ForwardPass implements AutoCloseable {

    private final Predictor predictor;
    private final AttributionOptions options;
    private final TransformerModel model;
    private final MemoryBudget budget;
    private final ForwardAnalyses forwardAnalyses;
    /** Takes the wall time spent queuing (on a CPU: computing) the per-head reductions and head similarity. */
    private final LongConsumer reductionTime;

    ForwardPass(Predictor predictor, AttributionOptions options, MemoryBudget budget, LongConsumer reductionTime) {
        this.predictor = predictor;
        this.options = options;
        this.model = predictor.model();
        this.budget = budget;
        this.reductionTime = reductionTime;
        this.forwardAnalyses = options.has(Analysis.NORMS) ? new ForwardAnalyses(model) : null;
    }

    /** What the forward pass at the input gives one sample. */
    static final class Part {
        Prediction prediction;
        float[][][][] attentions;
        float[][][] normFx;
        float[][][][] normAlphaFx;
        float[][][] normSumAlphaFx;
        float[][] rollout;
        float[] headSimilarity;
        Map<String, float[][]> headMetrics;
        QueryKeyVectors queryKeys;
        TokenEmbeddings embeddings;
    }

    /**
     * One forward pass over a group of samples (sized by the memory budget): predictions, the per-head statistics
     * of the forward-only analyses ({@link HeadReductions}) and the head similarities of all rows computed at once on
     * the device, then copied to the host in two transfers (the logits, and everything else), whatever the group's
     * size. The [L][H][S][S] matrices cross only for the samples that want them ({@link Sample#matrices()}).
     */
    List<Part> run(List<Sample> samples) {
        boolean keepAttentions = options.has(Analysis.ATTENTION) || options.has(Analysis.NORMS)
                || options.has(Analysis.ROLLOUT);
        List<EncodedText> texts = samples.stream().map(Sample::encoding).toList();
        EncodedBatch batch = EncodedBatch.ofTexts(texts, predictor.padId());
        ForwardOptions forward = ForwardOptions.predictOnly();
        if (keepAttentions) {
            forward.keepAttentions();
        }
        if (options.has(Analysis.NORMS)) {
            forward.keepValues();
        }
        int layers = model.config().numLayers();
        // the neuron view's vectors go with the attention matrices of the samples that copy them
        boolean queryKeys = options.has(Analysis.ATTENTION) && samples.stream().anyMatch(Sample::matrices);
        if (queryKeys) {
            forward.keepQueriesKeys();
        }
        int[] embeddingLayers = samples.stream().anyMatch(x -> x.embeddingPositions().length > 0)
                ? options.embeddingLayers(layers) : new int[0];
        if (embeddingLayers.length > 0) {
            forward.keepHiddenStates();
        }
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forward(batch, forward, scope);
            List<Prediction> predictions = predictor.predictions(samples.stream().map(Sample::input).toList(),
                    texts, r);
            HostTransfer transfer = new HostTransfer();
            MatrixRows rows = new MatrixRows(samples, scope);
            HeadReductions.Masks masks = options.headStatistics()
                    && (options.has(Analysis.ATTENTION) || options.has(Analysis.NORMS))
                    ? new HeadReductions.Masks(texts, batch.seqLen(), model.config().family(), scope) : null;
            ForwardOffsets at = new ForwardOffsets(layers);
            int heads = model.config().numHeads();
            long groupBytes = reductionGroupBytes(model, budget);
            if (options.has(Analysis.ATTENTION)) {
                if (masks != null) {
                    long t0 = System.nanoTime();
                    HeadReductions.Grouping grouping = new HeadReductions.Grouping(layers, heads,
                            HeadReductions.CATEGORIES.size() + HeadReductions.ENTROPIES, groupBytes,
                            (a, unused) -> HeadReductions.categories(a, masks, false)
                                    .concat(HeadReductions.entropies(a, masks), 2), transfer);
                    r.attentions().forEach(a -> grouping.add(a, null, false));
                    at.attentionMetrics = grouping.finish();
                    reductionTime.accept(System.nanoTime() - t0);
                }
                for (int l = 0; l < layers; l++) {
                    at.attention[l] = rows.add(r.attentions().get(l), transfer);
                }
            }
            if (options.has(Analysis.NORMS) && (masks != null || rows.any())) {
                HeadReductions.Grouping grouping = masks == null ? null : new HeadReductions.Grouping(layers, heads,
                        HeadReductions.CATEGORIES.size(), groupBytes,
                        (alphaFx, unused) -> HeadReductions.categories(alphaFx, masks, false), transfer);
                forwardAnalyses.norms(r, (l, fx, alphaFx, sumAlphaFx) -> {
                    at.normFx[l] = rows.addOwned(fx, transfer);
                    at.normAlphaFx[l] = rows.addOwned(grouping != null ? alphaFx.duplicate() : alphaFx, transfer);
                    at.normSumAlphaFx[l] = rows.addOwned(sumAlphaFx, transfer);
                    if (grouping != null) {
                        long t0 = System.nanoTime();
                        NDScope.unregister(alphaFx); // kept until its group is reduced
                        grouping.add(alphaFx, null, true);
                        reductionTime.accept(System.nanoTime() - t0);
                    }
                });
                if (grouping != null) {
                    long t0 = System.nanoTime();
                    at.normMetrics = grouping.finish();
                    reductionTime.accept(System.nanoTime() - t0);
                }
            }
            if (queryKeys) {
                long[] shape = r.attentions().get(0).getShape().getShape();
                for (int l = 0; l < layers; l++) {
                    at.queries[l] = rows.add(r.queries().get(l), transfer);
                    at.keys[l] = rows.add(r.keys().get(l), transfer);
                    NDArray offset = r.scoreOffsets().get(l);
                    if (offset != null) {
                        at.scoreOffsets[l] = rows.addOwned(offset.broadcast(new ai.djl.ndarray.types.Shape(shape)),
                                transfer);
                    }
                }
            }
            EmbeddingRows embeddingRows = embeddingLayers.length == 0 ? null
                    : new EmbeddingRows(samples, batch.seqLen(), embeddingLayers, r, scope, transfer);
            if (options.has(Analysis.ROLLOUT) && rows.any()) {
                at.rollout = rows.addOwned(ForwardAnalyses.rollout(r.attentions()), transfer);
            }
            List<List<HeadSimilarity.Block>> similarityAt = new ArrayList<>();
            double similarityRate = options.headSimilarityRate(model.manager().getDevice());
            if (similarityRate > 0) {
                // on a GPU a block and its float64 temporaries within the pass's budget; on a CPU cache-sized
                long blockBytes = model.manager().getDevice().isGpu()
                        ? Math.min(budget.largestTensorBytes(), budget.bytes() / 8)
                        : MemoryBudget.CPU_REDUCTION_BLOCK_BYTES;
                long t0 = System.nanoTime();
                for (int b = 0; b < samples.size(); b++) {
                    similarityAt.add(HeadSimilarity.chosen(samples.get(b).encoding(), similarityRate)
                            ? HeadSimilarity.add(r.attentions(), b, samples.get(b).length(), blockBytes, transfer)
                            : null);
                }
                reductionTime.accept(System.nanoTime() - t0);
            }
            HostTransfer.Fetched host = transfer.fetch();
            List<Part> parts = new ArrayList<>();
            for (int b = 0; b < samples.size(); b++) {
                Part part = forwardPart(predictions.get(b), host, b, rows.row(b), samples.get(b).length(),
                        batch.seqLen(), at, r.scoreScale());
                if (embeddingRows != null) {
                    part.embeddings = embeddingRows.sample(host, b);
                }
                if (!similarityAt.isEmpty() && similarityAt.get(b) != null) {
                    part.headSimilarity = HeadSimilarity.read(similarityAt.get(b), host,
                            layers * model.config().numHeads());
                }
                parts.add(part);
            }
            return parts;
        }
    }

    /** Which rows of a pass copy their matrices to the host, and where each of them lands. */
    private static final class MatrixRows {
        private final int[] row;
        private final NDArray index;
        private final int count;

        MatrixRows(List<Sample> samples, NDManager scope) {
            row = new int[samples.size()];
            List<Long> kept = new ArrayList<>();
            for (int b = 0; b < samples.size(); b++) {
                row[b] = samples.get(b).matrices() ? kept.size() : -1;
                if (row[b] >= 0) {
                    kept.add((long) b);
                }
            }
            count = kept.size();
            index = count == 0 || count == samples.size() ? null
                    : scope.create(kept.stream().mapToLong(Long::longValue).toArray());
        }

        boolean any() {
            return count > 0;
        }

        /** Sample b's row among the copied ones, or −1. */
        int row(int b) {
            return row[b];
        }

        /** Adds the kept rows of a tensor its owner frees; −1 when no row is kept. */
        int add(NDArray tensor, HostTransfer transfer) {
            if (count == 0) {
                return -1;
            }
            return index == null ? transfer.add(tensor) : transfer.addOwned(tensor.get(new NDIndex("{}", index)));
        }

        /** Adds the kept rows of a tensor made in an {@link NDScope}; the rest of it is freed with the scope. */
        int addOwned(NDArray tensor, HostTransfer transfer) {
            if (count == 0) {
                return -1;
            }
            return transfer.addFromScope(index == null ? tensor : tensor.get(new NDIndex("{}", index)));
        }
    }

    /**
     * The contextual embeddings the samples ask for ({@link Sample#embeddingPositions()}), gathered on the device: per
     * layer one [positions, hidden] tensor of all samples' positions and the [positions, heads] key each head attends
     * to most, copied with the rest of the pass.
     */
    private static final class EmbeddingRows {
        private final int[] layers;
        private final int[] first;
        private final int[] vectorsAt;
        private final int[] attendedAt;
        private final int hidden;
        private final int heads;
        private final List<Sample> samples;

        EmbeddingRows(List<Sample> samples, int seq, int[] layers, ForwardResult r, NDManager scope,
                HostTransfer transfer) {
            this.samples = samples;
            this.layers = layers;
            first = new int[samples.size() + 1];
            List<Long> flat = new ArrayList<>();
            for (int b = 0; b < samples.size(); b++) {
                first[b] = flat.size();
                for (int position : samples.get(b).embeddingPositions()) {
                    flat.add((long) b * seq + position);
                }
            }
            first[samples.size()] = flat.size();
            NDArray index = scope.create(flat.stream().mapToLong(Long::longValue).toArray());
            hidden = (int) r.hiddenStates().get(0).getShape().get(2);
            heads = r.attentions().isEmpty() ? 0 : (int) r.attentions().get(0).getShape().get(1);
            vectorsAt = new int[layers.length];
            attendedAt = new int[layers.length];
            for (int i = 0; i < layers.length; i++) {
                NDArray states = r.hiddenStates().get(layers[i]);
                vectorsAt[i] = transfer.addOwned(states.reshape(-1, hidden).get(new NDIndex("{}", index)));
                attendedAt[i] = -1;
                if (heads > 0) {
                    NDArray a = r.attentions().get(layers[i]); // [B, H, S, S]
                    NDArray argmax = a.argMax(-1).transpose(0, 2, 1).reshape(-1, heads); // [B·S, H]
                    attendedAt[i] = transfer.addOwned(argmax.get(new NDIndex("{}", index))
                            .toType(ai.djl.ndarray.types.DataType.FLOAT32, false));
                    argmax.close();
                }
            }
        }

        TokenEmbeddings sample(HostTransfer.Fetched host, int b) {
            int count = first[b + 1] - first[b];
            if (count == 0) {
                return null;
            }
            float[][][] vectors = new float[layers.length][count][];
            int[][][] attended = heads == 0 ? null : new int[layers.length][count][heads];
            for (int i = 0; i < layers.length; i++) {
                for (int p = 0; p < count; p++) {
                    vectors[i][p] = host.row(vectorsAt[i] + (first[b] + p) * hidden, hidden);
                    if (attended != null) {
                        float[] keys = host.row(attendedAt[i] + (first[b] + p) * heads, heads);
                        for (int h = 0; h < heads; h++) {
                            attended[i][p][h] = (int) keys[h];
                        }
                    }
                }
            }
            return new TokenEmbeddings(layers.clone(), samples.get(b).embeddingPositions().clone(), vectors, attended);
        }
    }

    /** Where a forward pass's values start in its transfer, per layer (−1 or null: not copied). */
    private static final class ForwardOffsets {
        HeadReductions.Grouped attentionMetrics;
        final int[] attention;
        HeadReductions.Grouped normMetrics;
        final int[] normFx;
        final int[] normAlphaFx;
        final int[] normSumAlphaFx;
        int rollout = -1;
        final int[] queries;
        final int[] keys;
        final int[] scoreOffsets;

        ForwardOffsets(int layers) {
            queries = filled(layers);
            keys = filled(layers);
            scoreOffsets = filled(layers);
            attention = filled(layers);
            normFx = filled(layers);
            normAlphaFx = filled(layers);
            normSumAlphaFx = filled(layers);
        }

        private static int[] filled(int n) {
            int[] a = new int[n];
            java.util.Arrays.fill(a, -1);
            return a;
        }
    }

    /**
     * Sample {@code b}'s part of a pass's analyses, cut to its n tokens: its per-head statistics, and its matrices
     * from row {@code row} of the copied ones (none when −1).
     */
    private Part forwardPart(Prediction prediction, HostTransfer.Fetched host, int b, int row, int n, int seq,
            ForwardOffsets at, float scoreScale) {
        int layers = model.config().numLayers();
        int heads = model.config().numHeads();
        Part p = new Part();
        p.prediction = prediction;
        p.headMetrics = options.headStatistics() ? new java.util.LinkedHashMap<>() : null;
        int categories = HeadReductions.CATEGORIES.size();
        if (at.attentionMetrics != null) {
            float[][][] values = at.attentionMetrics.sample(host, b);
            readCategories(p.headMetrics, "attn_", values);
            p.headMetrics.put("entropy", HeadReductions.column(values, categories));
            p.headMetrics.put("cls_entropy", HeadReductions.column(values, categories + 1));
        }
        if (at.normMetrics != null) {
            readCategories(p.headMetrics, "norm_", at.normMetrics.sample(host, b));
        }
        if (row < 0) {
            return p;
        }
        if (at.attention[0] >= 0) {
            p.attentions = new float[layers][][][];
            for (int l = 0; l < layers; l++) {
                p.attentions[l] = Tensors.heads(host, at.attention[l], row, heads, seq, n);
            }
        }
        if (at.normFx[0] >= 0) {
            p.normFx = new float[layers][][];
            p.normAlphaFx = new float[layers][][][];
            p.normSumAlphaFx = new float[layers][][];
            for (int l = 0; l < layers; l++) {
                p.normFx[l] = new float[heads][];
                for (int h = 0; h < heads; h++) {
                    p.normFx[l][h] = host.row(at.normFx[l] + (row * heads + h) * seq, n);
                }
                p.normAlphaFx[l] = Tensors.heads(host, at.normAlphaFx[l], row, heads, seq, n);
                p.normSumAlphaFx[l] = Tensors.heads(host, at.normSumAlphaFx[l], row, 1, seq, n)[0];
            }
        }
        if (at.rollout >= 0) {
            p.rollout = Tensors.heads(host, at.rollout, row, 1, seq, n)[0];
        }
        if (at.queries[0] >= 0) {
            int headSize = model.config().headSize();
            float[][][][] queries = new float[layers][][][];
            float[][][][] keys = new float[layers][][][];
            float[][][][] offsets = new float[layers][][][];
            for (int l = 0; l < layers; l++) {
                queries[l] = Tensors.block(host, at.queries[l], row, heads, seq, n, headSize, headSize);
                keys[l] = Tensors.block(host, at.keys[l], row, heads, seq, n, headSize, headSize);
                offsets[l] = at.scoreOffsets[l] < 0 ? null : Tensors.heads(host, at.scoreOffsets[l], row, heads, seq, n);
            }
            p.queryKeys = new QueryKeyVectors(queries, keys, offsets, scoreScale);
        }
        return p;
    }

    /** The six categories of a sample's [L][H][width] values, as {@code prefix + category}. */
    private static void readCategories(Map<String, float[][]> into, String prefix, float[][][] values) {
        for (int c = 0; c < HeadReductions.CATEGORIES.size(); c++) {
            into.put(prefix + HeadReductions.CATEGORIES.get(c), HeadReductions.column(values, c));
        }
    }

    /**
     * The most bytes of one float64 copy of the layers a grouped reduction joins: on a GPU a 32nd of the budget (its
     * temporaries are a few such copies, within the budgets' rounding up), on a CPU a cache-sized block.
     */
    static long reductionGroupBytes(TransformerModel model, MemoryBudget budget) {
        return model.manager().getDevice().isGpu() ? budget.bytes() / 32 : MemoryBudget.CPU_REDUCTION_BLOCK_BYTES;
    }

    @Override
    public void close() {
        if (forwardAnalyses != null) {
            forwardAnalyses.close();
        }
    }
}
