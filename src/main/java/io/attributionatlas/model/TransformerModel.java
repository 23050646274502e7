package io.attributionatlas.model;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.index.NDIndex;
import ai.djl.ndarray.types.DataType;
import ai.djl.ndarray.types.Shape;
import ai.djl.ndarray.types.SparseFormat;
import ai.djl.nn.core.Embedding;
import ai.djl.nn.core.Linear;
import ai.djl.nn.norm.LayerNorm;
import ai.djl.pytorch.engine.PtNDArray;
import ai.djl.pytorch.jni.JniUtils;
import io.attributionatlas.model.ForwardOptions.Site;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout.Role;
import io.attributionatlas.model.ParameterLayout.Spec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
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
    private final Map<Role, NDArray> globals;
    private final List<Map<LayerRole, NDArray>> layers;
    private final LoadReport report;
    /** The bias of a norm stored without one (ModernBERT's norm_bias false). */
    private final NDArray zeroBias;
    /** What the forward pass computes in: every weight and activation has its compute type. */
    private final Precision precision;

    /** What loading found: parameters used, stored keys ignored, stored dtypes. */
    public record LoadReport(long parameterCount, List<String> ignoredKeys, List<String> storedDtypes) {
    }

    private TransformerModel(ModelConfig config, NDManager manager, Map<Role, NDArray> globals,
            List<Map<LayerRole, NDArray>> layers, LoadReport report, Precision precision) {
        this.precision = precision;
        this.config = config;
        this.manager = manager;
        this.globals = globals;
        this.layers = layers;
        this.report = report;
        this.zeroBias = manager.zeros(new Shape(config.hiddenSize()), precision.computeType());
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
                            + config.architecture().modelType() + " encoder with " + config.numLayers() + " layers"
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
            Map<Role, NDArray> globals = new EnumMap<>(Role.class);
            for (Map.Entry<Role, Spec> e : layout.globals().entrySet()) {
                globals.put(e.getKey(), tensor.apply(e.getValue()));
            }
            List<Map<LayerRole, NDArray>> layers = new ArrayList<>();
            for (Map<LayerRole, Spec> specs : layout.layers()) {
                Map<LayerRole, NDArray> l = new EnumMap<>(LayerRole.class);
                for (Map.Entry<LayerRole, Spec> e : specs.entrySet()) {
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
                    + Arrays.toString(first.shape()) + " for a " + layout.config().architecture().modelType() + " "
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
    public NDArray layerParameter(int layer, LayerRole role) {
        return layers.get(layer).get(role);
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
        if (options.embeddingOutput != null) {
            // The path's point is a constant of the pass (gradients are taken at the taps), so a cast is fine here.
            embedding = options.embeddingOutput.toType(precision.computeType(), false);
        } else {
            embedding = embed(batchManager.create(batch.ids(), bs), batchManager.create(batch.typeIds(), bs),
                    batchManager);
        }
        List<NDArray> embeddingTaps = new ArrayList<>();
        embedding = site(embedding, Site.EMBEDDING, 0, options, options.tapEmbedding, embeddingTaps);
        NDArray x = embedding;
        if (config.hasEmbeddingProjection()) {
            x = linear(x, globals.get(Role.EMB_PROJ_W), globals.get(Role.EMB_PROJ_B));
        }
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
        int heads = config.numHeads();
        int headSize = config.headSize();
        ModelConfig.RelativeAttention relative = config.relative();
        NDArray scaleTensor = Activation.constant(x, (float) (1.0 / Math.sqrt(headSize
                * (relative == null ? 1 : relative.scaleFactor()))));
        RelativeScores relativeScores = relative == null ? null : new RelativeScores(s, batchManager);
        ModelConfig.Modern modern = config.modern();
        Rope rope = modern == null ? null : new Rope(s, batchManager);
        // Local layers: keys beyond the window get the same most negative score as padding (not twice it).
        NDArray localMask = modern == null ? null : additiveMask.minimum(windowMask(s, modern.window(), batchManager));
        for (int layer = 0; layer < layers.size(); layer++) {
            Map<LayerRole, NDArray> w = layers.get(layer);
            NDArray layerInput = x;
            NDArray q;
            NDArray k;
            NDArray v;
            if (modern != null) { // pre-norm (none before layer 0), fused projection, rotary positions
                NDArray attnIn = w.containsKey(LayerRole.ATTN_NORM_W) ? layerNorm(x, w.get(LayerRole.ATTN_NORM_W),
                        w.get(LayerRole.ATTN_NORM_B)) : x;
                NDArray qkv = linear(attnIn, w.get(LayerRole.QKV_W), w.get(LayerRole.QKV_B));
                if (attnIn != x) {
                    attnIn.close();
                }
                ai.djl.ndarray.NDList parts = qkv.split(3, 2);
                boolean local = modern.local()[layer];
                q = rope.apply(splitHeads(parts.get(0), b, s), local);
                k = rope.apply(splitHeads(parts.get(1), b, s), local);
                v = splitHeads(parts.get(2), b, s);
                qkv.close();
            } else {
                q = splitHeads(linear(x, w.get(LayerRole.QUERY_W), w.get(LayerRole.QUERY_B)), b, s);
                k = splitHeads(linear(x, w.get(LayerRole.KEY_W), w.get(LayerRole.KEY_B)), b, s);
                v = splitHeads(linear(x, w.get(LayerRole.VALUE_W), w.get(LayerRole.VALUE_B)), b, s);
            }
            // The [batch, heads, seq, seq] intermediates dominate memory at long lengths: release each at once.
            NDArray keysT = k.transpose(0, 1, 3, 2);
            NDArray scores = release(keysT, q.matMul(keysT));
            NDArray scaled = release(scores, scores.mul(scaleTensor));
            if (relativeScores != null) {
                scaled = release(scaled, scaled.add(relativeScores.bias(w, q, k, b, scaleTensor)));
            }
            NDArray masked = release(scaled, scaled.add(modern != null && modern.local()[layer] ? localMask
                    : additiveMask));
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
            NDArray attnDense = release(merged, linear(merged, w.get(LayerRole.ATTN_OUT_W), w.get(LayerRole.ATTN_OUT_B)));
            NDArray normed = modern != null ? preNormTail(w, attnDense, x) : postNormTail(w, attnDense, x);
            x = site(normed, Site.LAYER_OUTPUT, layer, options, options.tapLayer.test(layer), layerTaps);
            if (x != normed) {
                normed.close();
            }
            if (options.keepAttentions) {
                attentions.add(probs);
            } else {
                probs.close();
            }
            q.close();
            k.close();
            if (options.keepValues) {
                values.add(v);
            } else {
                v.close();
            }
            // A layer's input is the previous layer's output (or the embedding projection): free it unless kept.
            if (layerInput != embedding && !(options.keepHiddenStates && layer > 0)) {
                layerInput.close();
            }
            if (options.keepHiddenStates) {
                hidden.add(x);
            }
        }

        NDArray logits = null;
        NDArray start = null;
        NDArray end = null;
        NDArray last = x;
        if (modern != null) { // the last layer's output is the tapped site; the heads read it normalised
            last = layerNorm(x, globals.get(Role.FINAL_NORM_W), globals.get(Role.FINAL_NORM_B));
            x = last;
        }
        switch (config.task()) {
            case SEQUENCE_CLASSIFICATION -> logits = modern != null ? classifyModern(last, mask, b, s)
                    : classify(x.get(new NDIndex(":, 0")));
            case QUESTION_ANSWERING -> {
                NDArray qa = linear(x, globals.get(Role.QA_W), globals.get(Role.QA_B));
                start = qa.get(new NDIndex(":, :, 0"));
                end = qa.get(new NDIndex(":, :, 1"));
            }
            case ENCODER -> { }
        }
        return new ForwardResult(logits, start, end, x, embedding, hidden, attentions, values,
                embeddingTaps.get(0), orEmpty(layerTaps), orEmpty(attentionTaps), gates);
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
        if (config.architecture().positionsFromPadding()) {
            NDArray real = ids.neq(Scalars.ofLong(ids, config.padTokenId())).toType(DataType.INT64, false);
            positions = real.cumSum(1).mul(real).add(Scalars.ofLong(real, config.padTokenId()));
        } else {
            positions = batchManager.arange(0, (int) s, 1, DataType.INT64).reshape(1, s).repeat(0, b);
        }
        NDArray e = lookup(ids, globals.get(Role.WORD_EMB));
        if (globals.containsKey(Role.POS_EMB)) {
            e = e.add(lookup(positions, globals.get(Role.POS_EMB)));
        }
        if (globals.containsKey(Role.TYPE_EMB)) {
            NDArray types = globals.get(Role.TYPE_EMB);
            e = e.add(types.getShape().get(0) == 1 ? types.get(0) : lookup(typeIds, types));
        }
        return layerNorm(e, globals.get(Role.EMB_NORM_W), globals.get(Role.EMB_NORM_B));
    }

    /** The post-norm layer after attention: residual + norm, the feed-forward block, residual + norm. */
    private NDArray postNormTail(Map<LayerRole, NDArray> w, NDArray attnDense, NDArray x) {
        NDArray attnResidual = release(attnDense, attnDense.add(x));
        NDArray attnOut = release(attnResidual, layerNorm(attnResidual, w.get(LayerRole.ATTN_NORM_W),
                w.get(LayerRole.ATTN_NORM_B)));
        NDArray ffnIn = linear(attnOut, w.get(LayerRole.FFN_IN_W), w.get(LayerRole.FFN_IN_B));
        NDArray ffn = release(ffnIn, config.activation().apply(ffnIn));
        NDArray ffnOut = release(ffn, linear(ffn, w.get(LayerRole.FFN_OUT_W), w.get(LayerRole.FFN_OUT_B)));
        NDArray ffnResidual = release(attnOut, release(ffnOut, ffnOut.add(attnOut)));
        return release(ffnResidual, layerNorm(ffnResidual, w.get(LayerRole.OUT_NORM_W), w.get(LayerRole.OUT_NORM_B)));
    }

    /** ModernBERT's layer after attention: residual, then norm → GeGLU → projection, residual. */
    private NDArray preNormTail(Map<LayerRole, NDArray> w, NDArray attnDense, NDArray x) {
        NDArray h = release(attnDense, attnDense.add(x));
        NDArray mlpIn = layerNorm(h, w.get(LayerRole.OUT_NORM_W), w.get(LayerRole.OUT_NORM_B));
        NDArray wi = release(mlpIn, linear(mlpIn, w.get(LayerRole.FFN_IN_W), w.get(LayerRole.FFN_IN_B)));
        ai.djl.ndarray.NDList halves = wi.split(2, 2);
        NDArray gated = release(wi, config.activation().apply(halves.get(0)).mul(halves.get(1)));
        halves.close();
        NDArray out = release(gated, linear(gated, w.get(LayerRole.FFN_OUT_W), w.get(LayerRole.FFN_OUT_B)));
        return release(h, release(out, out.add(h)));
    }

    /** ModernBERT's head: mean over real tokens (or the first token), dense → activation → norm, classifier. */
    private NDArray classifyModern(NDArray last, NDArray mask, int b, int s) {
        ModelConfig.Modern m = config.modern();
        NDArray pooled;
        if (m.meanPooling()) {
            NDArray weights = mask.toType(precision.computeType(), false).reshape(b, s, 1);
            pooled = last.mul(weights).sum(new int[] {1}).div(weights.sum(new int[] {1}));
        } else {
            pooled = last.get(new NDIndex(":, 0"));
        }
        NDArray dense = m.headActivation().apply(linear(pooled, globals.get(Role.CLS_HIDDEN_W),
                globals.get(Role.CLS_HIDDEN_B)));
        return linear(layerNorm(dense, globals.get(Role.HEAD_NORM_W), globals.get(Role.HEAD_NORM_B)),
                globals.get(Role.CLS_OUT_W), globals.get(Role.CLS_OUT_B));
    }

    /** [1, 1, S, S]: 0 where |query − key| ≤ window, the most negative value elsewhere (sliding-window layers). */
    private NDArray windowMask(int s, int window, NDManager batchManager) {
        float[] m = new float[s * s];
        for (int i = 0; i < s; i++) {
            for (int j = 0; j < s; j++) {
                m[i * s + j] = Math.abs(i - j) <= window ? 0f : precision.lowestValue();
            }
        }
        return batchManager.create(m, new Shape(1, 1, s, s)).toType(precision.computeType(), false);
    }

    /**
     * Rotary position embeddings of one pass (positions 0 … S−1), for the global and the local θ: x·cos +
     * rotate_half(x)·sin, with the frequencies computed in float32 as transformers' default RoPE.
     */
    private final class Rope {
        private final NDArray[] cos = new NDArray[2];
        private final NDArray[] sin = new NDArray[2];

        Rope(int s, NDManager batchManager) {
            int d = config.headSize();
            double[] thetas = {config.modern().globalTheta(), config.modern().localTheta()};
            for (int t = 0; t < 2; t++) {
                float[] c = new float[s * d];
                float[] sn = new float[s * d];
                for (int i = 0; i < d / 2; i++) {
                    float inv = (float) (1.0 / Math.pow((float) thetas[t], (float) (2 * i) / d));
                    for (int p = 0; p < s; p++) {
                        float angle = p * inv;
                        c[p * d + i] = (float) Math.cos(angle);
                        c[p * d + i + d / 2] = c[p * d + i];
                        sn[p * d + i] = (float) Math.sin(angle);
                        sn[p * d + i + d / 2] = sn[p * d + i];
                    }
                }
                cos[t] = batchManager.create(c, new Shape(s, d)).toType(precision.computeType(), false);
                sin[t] = batchManager.create(sn, new Shape(s, d)).toType(precision.computeType(), false);
            }
        }

        /** [batch, heads, S, head size] with rotary positions; releases x. */
        NDArray apply(NDArray x, boolean local) {
            int t = local ? 1 : 0;
            ai.djl.ndarray.NDList halves = x.split(2, 3);
            NDArray rotated = halves.get(1).neg().concat(halves.get(0), 3);
            halves.close();
            NDArray out = x.mul(cos[t]).add(release(rotated, rotated.mul(sin[t])));
            x.close();
            return out;
        }
    }

    private NDArray classify(NDArray cls) {
        return switch (config.architecture()) {
            case BERT, ALBERT -> linear(linear(cls, globals.get(Role.POOLER_W), globals.get(Role.POOLER_B)).tanh(),
                    globals.get(Role.CLS_OUT_W), globals.get(Role.CLS_OUT_B));
            case MODERNBERT -> throw new IllegalStateException("ModernBERT's head pools over tokens: classifyModern");
            case DEBERTA_V2 -> linear(config.relative().poolerActivation().apply(linear(cls,
                    globals.get(Role.CLS_HIDDEN_W), globals.get(Role.CLS_HIDDEN_B))), globals.get(Role.CLS_OUT_W),
                    globals.get(Role.CLS_OUT_B));
            case ROBERTA, XLM_ROBERTA -> linear(linear(cls, globals.get(Role.CLS_HIDDEN_W),
                    globals.get(Role.CLS_HIDDEN_B)).tanh(), globals.get(Role.CLS_OUT_W), globals.get(Role.CLS_OUT_B));
            case DISTILBERT -> linear(Activation.RELU.apply(linear(cls, globals.get(Role.CLS_HIDDEN_W),
                    globals.get(Role.CLS_HIDDEN_B))), globals.get(Role.CLS_OUT_W), globals.get(Role.CLS_OUT_B));
            case ELECTRA -> linear(Activation.GELU.apply(linear(cls, globals.get(Role.CLS_HIDDEN_W),
                    globals.get(Role.CLS_HIDDEN_B))), globals.get(Role.CLS_OUT_W), globals.get(Role.CLS_OUT_B));
        };
    }

    /**
     * DeBERTa's disentangled attention terms for one pass: the (layer-normalised) relative embeddings and the
     * bucketed relative positions, shared by every layer; {@link #bias} projects the embeddings with the layer's
     * own query and key weights (share_att_key) and gathers content-to-position and position-to-content scores,
     * as transformers' {@code disentangled_attention_bias}.
     */
    private final class RelativeScores {
        private final NDArray embeddings;
        private final NDArray c2pIndex;
        private final NDArray p2cIndex;
        private final int span;
        private final int s;

        RelativeScores(int s, NDManager batchManager) {
            ModelConfig.RelativeAttention r = config.relative();
            this.s = s;
            this.span = r.span();
            NDArray table = globals.get(Role.REL_EMB);
            this.embeddings = r.normalised() ? layerNorm(table, globals.get(Role.REL_NORM_W),
                    globals.get(Role.REL_NORM_B)) : table;
            long[] c2p = new long[s * s];
            long[] p2c = new long[s * s];
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < s; j++) {
                    long rel = relativePosition(i - j, r.buckets(), r.maxRelative());
                    c2p[i * s + j] = Math.max(0, Math.min(2L * span - 1, rel + span));
                    p2c[i * s + j] = Math.max(0, Math.min(2L * span - 1, -rel + span));
                }
            }
            this.c2pIndex = batchManager.create(c2p, new Shape(s, s));
            this.p2cIndex = batchManager.create(p2c, new Shape(s, s));
        }

        /** [batch, heads, query, key]: (c2p + p2c) / scale, to add to the scaled content scores. */
        NDArray bias(Map<LayerRole, NDArray> w, NDArray q, NDArray k, int b, NDArray scale) {
            ModelConfig.RelativeAttention r = config.relative();
            int heads = config.numHeads();
            Shape full = new Shape(b, heads, s, s);
            NDArray bias = null;
            if (r.c2p()) {
                NDArray posKey = relativeHeads(linear(embeddings, w.get(LayerRole.KEY_W), w.get(LayerRole.KEY_B)));
                NDArray scores = q.matMul(posKey.transpose(0, 2, 1)); // [b, h, query, 2·span]
                bias = scores.gather(c2pIndex.broadcast(full), 3);
                scores.close();
            }
            if (r.p2c()) {
                NDArray posQuery = relativeHeads(linear(embeddings, w.get(LayerRole.QUERY_W), w.get(LayerRole.QUERY_B)));
                NDArray scores = k.matMul(posQuery.transpose(0, 2, 1)); // [b, h, key, 2·span]
                NDArray p2c = scores.gather(p2cIndex.broadcast(full), 3).transpose(0, 1, 3, 2);
                scores.close();
                bias = bias == null ? p2c : bias.add(p2c);
            }
            return bias.mul(scale);
        }

        /** [2·span, hidden] → [heads, 2·span, head size]. */
        private NDArray relativeHeads(NDArray x) {
            return x.reshape(2L * span, config.numHeads(), config.headSize()).transpose(1, 0, 2);
        }
    }

    /**
     * transformers' {@code build_relative_position} and {@code make_log_bucket_position}: query − key, or with
     * buckets, exact within ±bucket/2 and logarithmic up to maxPosition beyond (float32, as PyTorch computes it).
     */
    static long relativePosition(int relative, int buckets, int maxPosition) {
        if (buckets <= 0 || maxPosition <= 0) {
            return relative;
        }
        int mid = buckets / 2;
        long abs = relative < mid && relative > -mid ? mid - 1 : Math.abs(relative);
        if (abs <= mid) {
            return relative;
        }
        float ratio = (float) Math.log((float) abs / mid);
        float base = (float) Math.log((float) ((maxPosition - 1) / (double) mid));
        float log = (float) Math.ceil(ratio / base * (mid - 1)) + mid;
        return (long) (log * Math.signum(relative));
    }

    private NDArray splitHeads(NDArray x, int b, int s) {
        return x.reshape(b, s, config.numHeads(), config.headSize()).transpose(0, 2, 1, 3);
    }

    /** x·Wᵀ + b; without b where the model has none (ModernBERT). */
    private static NDArray linear(NDArray x, NDArray weight, NDArray bias) {
        return bias == null ? x.matMul(weight.transpose()) : Linear.linear(x, weight, bias).singletonOrThrow();
    }

    private NDArray layerNorm(NDArray x, NDArray gamma, NDArray beta) {
        return LayerNorm.layerNorm(x, gamma.getShape(), gamma, beta != null ? beta : zeroBias,
                config.layerNormEps()).singletonOrThrow();
    }

    private static NDArray lookup(NDArray ids, NDArray table) {
        return Embedding.embedding(ids, table, SparseFormat.DENSE).singletonOrThrow();
    }

    /**
     * Closes the Java handle of an intermediate nothing else uses and returns {@code result}. Autograd holds
     * its own reference to what the backward pass needs, so this frees the rest now instead of when the
     * batch's manager closes: the difference between gigabytes and megabytes at 512 tokens.
     */
    private static NDArray release(NDArray intermediate, NDArray result) {
        intermediate.close();
        return result;
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
