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
                        batch.seqLen(), at);
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

    /** Where a forward pass's values start in its transfer, per layer (−1 or null: not copied). */
    private static final class ForwardOffsets {
        HeadReductions.Grouped attentionMetrics;
        final int[] attention;
        HeadReductions.Grouped normMetrics;
        final int[] normFx;
        final int[] normAlphaFx;
        final int[] normSumAlphaFx;
        int rollout = -1;

        ForwardOffsets(int layers) {
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
            ForwardOffsets at) {
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
