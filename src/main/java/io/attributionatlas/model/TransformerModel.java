package io.attributionatlas.model;

import static io.attributionatlas.model.EncoderOps.release;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.attributionatlas.model.ForwardOptions.Site;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;
import io.attributionatlas.model.ParameterLayout.Spec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * A BERT-family encoder with its task head, evaluated with DJL NDArray operations on the PyTorch
 * engine in F32, numerically equal to Hugging Face {@code transformers} in eval mode (dropout off).
 * Weights live in the model's own {@link NDManager}; every tensor a forward pass creates is attached
 * to the manager of the batch's inputs, so closing that manager frees the batch's native memory.
 */
public final class TransformerModel implements AutoCloseable {

    private final ModelConfig config;
    private final NDManager manager;
    private final EncoderFamily family;
    private final Map<ParameterRole, NDArray> globals;
    private final List<Map<ParameterRole, NDArray>> layers;
    private final LoadReport report;
    /** The family's building blocks, bound to this model's parameters and precision. */
    private final EncoderOps ops;
    /** What the forward pass computes in: every weight and activation has its compute type. */
    private final Precision precision;

    /** What loading found: parameters used, stored keys ignored, stored dtypes. */
    public record LoadReport(long parameterCount, List<String> ignoredKeys, List<String> storedDtypes) {
    }

    private TransformerModel(ModelConfig config, NDManager manager, Map<ParameterRole, NDArray> globals,
            List<Map<ParameterRole, NDArray>> layers, LoadReport report, Precision precision) {
        this.precision = precision;
        this.config = config;
        this.manager = manager;
        this.globals = globals;
        this.layers = layers;
        this.report = report;
        this.family = config.family();
        this.ops = new EncoderOps(config, precision, globals, manager.zeros(new Shape(config.hiddenSize()),
                precision.computeType()));
    }

    /** Loads config.json and the safetensors weights of a model directory (float32 products). */
    public static TransformerModel load(Path dir, Task taskOverride, Device device) {
        return load(dir, taskOverride, device, Precision.FP32);
    }

    /** Loads config.json and the safetensors weights of a model directory, validating everything first. */
    public static TransformerModel load(Path dir, Task taskOverride, Device device, Precision precision) {
        if (!java.nio.file.Files.isDirectory(dir)) {
            throw ModelException.inFile(dir, "model directory not found (expected a Hugging Face model directory "
                    + "with config.json, model.safetensors and tokenizer.json or vocab.txt)");
        }
        ModelConfig config = ModelConfig.read(dir.resolve("config.json"), taskOverride);
        return load(config, WeightStore.open(dir), device, precision);
    }

    public static TransformerModel load(ModelConfig config, WeightStore store, Device device) {
        return load(config, store, device, Precision.FP32);
    }

    public static TransformerModel load(ModelConfig config, WeightStore store, Device device, Precision precision) {
        precision.prepareProcess();
        OfflineEngine.ensure();
        ParameterLayout layout = new ParameterLayout(config);
        Map<Spec, String> keyOf = resolveKeys(layout, store);
        List<String> ignored = new ArrayList<>();
        for (String key : store.keys()) {
            if (!keyOf.containsValue(key)) {
                if (layout.isEncoderStructureKey(key)) {
                    throw ModelException.atKey(store.fileOf(key), key, "unexpected parameter: not part of a "
                            + config.family().modelType() + " encoder with " + config.numLayers() + " layers"
                            + (config.hasEmbeddingProjection() ? "" : " and no embeddings_project")
                            + " as " + config.file() + " describes");
                }
                ignored.add(key);
            }
        }
        NDManager manager = NDManager.newBaseManager(device, "PyTorch");
        try {
            precision.requireSupported();
            // A stored tensor is created once, however many layers use it (ALBERT's shared layer).
            Map<String, NDArray> created = new java.util.HashMap<>();
            Function<Spec, NDArray> tensor = spec -> created.computeIfAbsent(keyOf.get(spec),
                    key -> create(manager, store, spec, key, precision.computeType()));
            Map<ParameterRole, NDArray> globals = new java.util.HashMap<>();
            for (Map.Entry<ParameterRole, Spec> e : layout.globals().entrySet()) {
                globals.put(e.getKey(), tensor.apply(e.getValue()));
            }
            List<Map<ParameterRole, NDArray>> layers = new ArrayList<>();
            for (Map<ParameterRole, Spec> specs : layout.layers()) {
                Map<ParameterRole, NDArray> l = new java.util.HashMap<>();
                for (Map.Entry<ParameterRole, Spec> e : specs.entrySet()) {
                    l.put(e.getKey(), tensor.apply(e.getValue()));
                }
                layers.add(l);
            }
            long count = created.values().stream().mapToLong(NDArray::size).sum();
            LoadReport report = new LoadReport(count, List.copyOf(ignored), List.copyOf(store.dtypes()));
            return new TransformerModel(config, manager, globals, layers, report, precision);
        } catch (RuntimeException e) {
            manager.close();
            throw e;
        }
    }

    /** Finds each required parameter under one of its accepted names and checks dtype and shape. */
    private static Map<Spec, String> resolveKeys(ParameterLayout layout, WeightStore store) {
        Map<Spec, String> keyOf = new java.util.LinkedHashMap<>();
        List<Spec> missing = new ArrayList<>();
        for (Spec spec : layout.all()) {
            String found = layout.candidateKeys(spec).stream().filter(store::contains).findFirst().orElse(null);
            if (found == null) {
                missing.add(spec);
                continue;
            }
            SafetensorsFile.TensorInfo info = store.info(found);
            if (!List.of("F32", "F16", "BF16").contains(info.dtypeName())) {
                throw ModelException.atKey(store.fileOf(found), found, "unsupported dtype " + info.dtypeName()
                        + " (expected F32, F16 or BF16)");
            }
            if (!Arrays.equals(info.shape(), spec.shape())) {
                throw ModelException.atKey(store.fileOf(found), found, "shape " + Arrays.toString(info.shape())
                        + " does not match " + layout.config().file() + ", which implies "
                        + Arrays.toString(spec.shape()));
            }
            keyOf.put(spec, found);
        }
        if (!missing.isEmpty()) {
            Spec first = missing.get(0);
            Path file = store.keys().iterator().hasNext() ? store.fileOf(store.keys().iterator().next())
                    : Path.of(WeightStore.SINGLE_FILE);
            throw ModelException.atKey(file, first.name(), "missing parameter (expected shape "
                    + Arrays.toString(first.shape()) + " for a " + layout.config().family().modelType() + " "
                    + layout.config().task().cliName() + " model; looked for " + layout.candidateKeys(first) + ")"
                    + (missing.size() > 1 ? "; " + (missing.size() - 1) + " more missing, e.g. "
                    + missing.subList(1, Math.min(4, missing.size())) : ""));
        }
        return keyOf;
    }

    /** A stored tensor, as float32 or converted to the model's compute type (stored F16/BF16 are read as F32). */
    private static NDArray create(NDManager manager, WeightStore store, Spec spec, String key, DataType type) {
        NDArray a = manager.create(store.read(key), new Shape(spec.shape()));
        if (type != DataType.FLOAT32) {
            NDArray converted = a.toType(type, true);
            a.close();
            a = converted;
        }
        a.setName(spec.name());
        return a;
    }

    public ModelConfig config() {
        return config;
    }

    public Precision precision() {
        return precision;
    }

    public LoadReport loadReport() {
        return report;
    }

    public NDManager manager() {
        return manager;
    }

    /** A layer's parameter, e.g. {@code ATTN_OUT_W} {@code [hidden, hidden]} for the Kobayashi norms. */
    public NDArray layerParameter(int layer, ParameterRole role) {
        return layers.get(layer).get(role);
    }

    /** An embedding or head parameter, e.g. {@code CLS_OUT_W} {@code [labels, hidden]}, or null where the model has none. */
    public NDArray globalParameter(ParameterRole role) {
        return globals.get(role);
    }

    /** The first layer's input from the embeddings module's output: projected to the hidden size where it is. */
    public NDArray firstLayerInput(NDArray embeddingOutput) {
        return globals.containsKey(Role.EMB_PROJ_W) ? ops.linear(embeddingOutput, Role.EMB_PROJ_W, Role.EMB_PROJ_B)
                : embeddingOutput;
    }

    /**
     * Turns PyTorch's grad mode off on the calling thread (it is on by default on new threads), so
     * forward passes record no autograd graph; {@link #forwardAndBackward} turns it on for its own pass.
     */
    public static void disableGradModeOnThisThread() {
        OfflineEngine.ensure();
        JniUtils.setGradMode(false);
    }

    /** Creates the batch's input tensors in {@code batchManager} and runs the forward pass. */
    public ForwardResult forward(EncodedBatch batch, ForwardOptions options, NDManager batchManager) {
        int b = batch.batchSize();
        int s = batch.seqLen();
        Shape bs = new Shape(b, s);
        NDArray mask = options.mask != null ? options.mask : batchManager.create(batch.mask(), bs);
        NDArray embedding;
        if (options.layerInput != null) {
            embedding = null; // a run of some layers from a given input: no embeddings, no projection
        } else if (options.embeddingOutput != null) {
            // The path's point is a constant of the pass (gradients are taken at the taps), so a cast is fine here.
            embedding = options.embeddingOutput.toType(precision.computeType(), false);
        } else {
            embedding = embed(batchManager.create(batch.ids(), bs), batchManager.create(batch.typeIds(), bs),
                    batchManager);
        }
        List<NDArray> embeddingTaps = new ArrayList<>();
        NDArray x;
        if (embedding == null) {
            x = options.layerInput.toType(precision.computeType(), false);
        } else {
            embedding = site(embedding, Site.EMBEDDING, 0, options, options.tapEmbedding, embeddingTaps);
            x = embedding;
            if (globals.containsKey(Role.EMB_PROJ_W)) {
                x = ops.linear(x, Role.EMB_PROJ_W, Role.EMB_PROJ_B);
            }
        }
        int lastLayer = Math.min(layers.size() - 1, options.lastLayer);
        // [batch, 1, 1, key]: 0 at real keys, the compute type's most negative value at padded ones (as transformers).
        NDArray additiveMask = Scalars.of(mask, 1f).sub(mask.toType(DataType.FLOAT32, false))
                .mul(Scalars.of(mask, precision.lowestValue())).toType(precision.computeType(), false)
                .reshape(b, 1, 1, s);

        List<NDArray> hidden = new ArrayList<>();
        List<NDArray> attentions = new ArrayList<>();
        List<NDArray> values = new ArrayList<>();
        List<NDArray> layerTaps = new ArrayList<>();
        List<NDArray> attentionTaps = new ArrayList<>();
        List<NDArray> gates = new ArrayList<>();
        List<NDArray> queries = new ArrayList<>();
        List<NDArray> keys = new ArrayList<>();
        List<NDArray> scoreOffsets = new ArrayList<>();
        int heads = config.numHeads();
        int headSize = config.headSize();
        float scale = (float) (1.0 / Math.sqrt(headSize * family.scoreScaleFactor(config)));
        NDArray scaleTensor = Activation.constant(x, scale);
        EncoderFamily.AttentionTerms terms = family.attentionTerms(ops, s, batchManager);
        for (int layer = options.firstLayer; layer <= lastLayer; layer++) {
            Map<ParameterRole, NDArray> w = layers.get(layer);
            NDArray layerInput = x;
            NDArray[] qkv = terms.project(ops, layer, w, x);
            NDArray q = qkv[0];
            NDArray k = qkv[1];
            NDArray v = qkv[2];
            NDArray keep = options.valueKeep.get(layer);
            if (keep != null) {
                v = release(v, v.mul(keep.toType(v.getDataType(), false).reshape(b, 1, s, 1)));
            }
            // The [batch, heads, seq, seq] intermediates dominate memory at long lengths: release each at once.
            NDArray keysT = k.transpose(0, 1, 3, 2);
            NDArray scores = release(keysT, q.matMul(keysT));
            NDArray scaled = release(scores, scores.mul(scaleTensor));
            NDArray bias = terms.scoreBias(layer, w, q, k, scaleTensor);
            if (bias != null) {
                scaled = release(scaled, scaled.add(bias));
            }
            NDArray layerMask = terms.mask(layer, additiveMask);
            NDArray masked = release(scaled, scaled.add(layerMask));
            if (options.keepQueriesKeys) {
                NDArray offset = layerMask == additiveMask ? bias : bias == null ? layerMask : bias.add(layerMask);
                scoreOffsets.add(offset);
            }
            NDArray softmax = release(masked, masked.softmax(-1));
            NDArray probs = site(softmax, Site.ATTENTION, layer, options, options.tapAttention.test(layer),
                    attentionTaps);
            if (probs != softmax) {
                softmax.close();
            }
            NDArray context = probs.matMul(v);
            NDArray gatePerturbation = options.perturbation(Site.HEAD_GATE, layer);
            if (options.headGate || gatePerturbation != null) {
                // One gate per row, so each row (sample, target, path point) gets its own ∂F/∂ξ.
                NDArray gate = batchManager.ones(new Shape(b, heads), precision.computeType());
                if (options.headGate) {
                    gate.setRequiresGradient(true);
                    gates.add(gate);
                }
                NDArray g = gatePerturbation == null ? gate : gate.add(gatePerturbation);
                context = release(context, context.mul(g.reshape(b, heads, 1, 1)));
            }
            NDArray merged = release(context, context.transpose(0, 2, 1, 3).reshape(b, s, (long) heads * headSize));
            NDArray attnDense = release(merged, EncoderOps.linear(merged, w.get(LayerRole.ATTN_OUT_W),
                    w.get(LayerRole.ATTN_OUT_B)));
            NDArray normed = family.layerTail(ops, w, attnDense, x);
            x = site(normed, Site.LAYER_OUTPUT, layer, options, options.tapLayer.test(layer), layerTaps);
            if (x != normed) {
                normed.close();
            }
            if (options.keepAttentions) {
                attentions.add(probs);
            } else {
                probs.close();
            }
            if (options.keepQueriesKeys) {
                queries.add(q);
                keys.add(k);
            } else {
                q.close();
                k.close();
            }
            if (options.keepValues) {
                values.add(v);
            } else {
                v.close();
            }
            // A layer's input is the previous layer's output (or the embedding projection): free it unless kept.
            if (layerInput != embedding && layerInput != options.layerInput
                    && !(options.keepHiddenStates && layer > options.firstLayer)) {
                layerInput.close();
            }
            if (options.keepHiddenStates) {
                hidden.add(x);
            }
        }

        NDArray logits = null;
        NDArray start = null;
        NDArray end = null;
        if (lastLayer < layers.size() - 1) { // stopped early: the layer's output, no head
            return new ForwardResult(null, null, null, x, embedding, hidden, attentions, values,
                    embeddingTaps.isEmpty() ? null : embeddingTaps.get(0), orEmpty(layerTaps), orEmpty(attentionTaps),
                    gates, queries, keys, scoreOffsets, scale);
        }
        // The last layer's output is the tapped site; pre-norm families' heads read it normalised.
        x = family.finalNorm(ops, x);
        switch (config.task()) {
            case SEQUENCE_CLASSIFICATION -> logits = family.classify(ops, x, mask);
            case QUESTION_ANSWERING -> {
                NDArray qa = ops.linear(x, Role.QA_W, Role.QA_B);
                start = qa.get(new NDIndex(":, :, 0"));
                end = qa.get(new NDIndex(":, :, 1"));
            }
            case ENCODER -> { }
        }
        return new ForwardResult(logits, start, end, x, embedding, hidden, attentions, values,
                embeddingTaps.isEmpty() ? null : embeddingTaps.get(0), orEmpty(layerTaps), orEmpty(attentionTaps), gates,
                queries, keys, scoreOffsets, scale);
    }

    /**
     * Runs the forward pass recording the autograd graph on this thread, then back-propagates the scalar
     * {@code objective} (e.g. the sum over rows of each row's target logit: rows get independent
     * gradients). Afterwards every tap leaf and head gate of the result holds ∂objective/∂(that tensor).
     *
     * <p>PyTorch's grad mode is per thread, so concurrent callers (Spark tasks sharing one model) each
     * record their own graph; DJL's GradientCollector would allow only one collector per JVM. Grad mode
     * is off again on return, so that post-processing of the result records no graph.
     */
    public ForwardResult forwardAndBackward(EncodedBatch batch, ForwardOptions options, NDManager batchManager,
            Function<ForwardResult, NDArray> objective) {
        JniUtils.setGradMode(true);
        try {
            ForwardResult result = forward(batch, options, batchManager);
            NDArray value = objective.apply(result);
            if (value.getShape().size() != 1) {
                throw new IllegalArgumentException("objective must be a scalar, got shape " + value.getShape());
            }
            JniUtils.backward((PtNDArray) value, (PtNDArray) value.onesLike(), false, false);
            return result;
        } finally {
            JniUtils.setGradMode(false);
        }
    }

    /**
     * The embeddings module: word + position + token type, then LayerNorm (before ELECTRA's and ALBERT's
     * projection). RoBERTa's positions are pad_token_id + 1, + 2, … over the real tokens and pad_token_id at
     * padding ({@code create_position_ids_from_input_ids}); a table of one token type adds its one row.
     */
    public NDArray embed(NDArray ids, NDArray typeIds, NDManager batchManager) {
        long b = ids.getShape().get(0);
        long s = ids.getShape().get(1);
        if (s > config.maxLength()) {
            throw new IllegalArgumentException("sequence length " + s + " exceeds the model's maximum length "
                    + config.maxLength());
        }
        NDArray positions;
        if (family.positionsFromPadding()) {
            NDArray real = ids.neq(Scalars.ofLong(ids, config.padTokenId())).toType(DataType.INT64, false);
            positions = real.cumSum(1).mul(real).add(Scalars.ofLong(real, config.padTokenId()));
        } else {
            positions = batchManager.arange(0, (int) s, 1, DataType.INT64).reshape(1, s).repeat(0, b);
        }
        NDArray e = EncoderOps.lookup(ids, globals.get(Role.WORD_EMB));
        if (globals.containsKey(Role.POS_EMB)) {
            e = e.add(EncoderOps.lookup(positions, globals.get(Role.POS_EMB)));
        }
        if (globals.containsKey(Role.TYPE_EMB)) {
            NDArray types = globals.get(Role.TYPE_EMB);
            e = e.add(types.getShape().get(0) == 1 ? types.get(0) : EncoderOps.lookup(typeIds, types));
        }
        return ops.layerNorm(e, Role.EMB_NORM_W, Role.EMB_NORM_B);
    }

    /** Tap lists are indexed by layer (null where a layer is not tapped), or empty when nothing is. */
    private static List<NDArray> orEmpty(List<NDArray> taps) {
        return taps.stream().allMatch(java.util.Objects::isNull) ? List.of() : taps;
    }

    /**
     * At a tap or perturbation site: adds the requested perturbation, and when tapped a zero-valued leaf
     * {@code z} with gradient required, so that {@code z.getGradient()} = ∂F/∂h after a backward pass.
     */
    private static NDArray site(NDArray h, Site site, int layer, ForwardOptions options, boolean tap,
            List<NDArray> taps) {
        NDArray delta = options.perturbation(site, layer);
        // A perturbation is a constant of the pass: cast to the model's type, it does not change the graph.
        NDArray out = delta == null ? h : h.add(delta.toType(h.getDataType(), false));
        NDArray z = null;
        if (tap) {
            z = h.zerosLike();
            z.setRequiresGradient(true);
            out = out.add(z);
        }
        taps.add(z);
        return out;
    }

    @Override
    public void close() {
        manager.close();
    }
}
