package io.attributionatlas.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import com.google.gson.JsonElement;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ConfigFields;
import io.attributionatlas.model.EncoderOps;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import io.attributionatlas.model.ParameterLayout;
import io.attributionatlas.model.ParameterRole;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * DeBERTa-v2/v3: disentangled attention (content-to-position and position-to-content scores from shared relative
 * embeddings, log position buckets), no absolute positions, ContextPooler head (dense → activation on [CLS]).
 */
public final class DebertaV2 extends PostNormFamily {

    /** The relative embeddings and their norm. */
    enum Parameter implements ParameterRole { REL_EMB, REL_NORM_W, REL_NORM_B }

    /**
     * {@code span} relative positions each way (position_buckets, else max_relative_positions), log-bucketed up to
     * {@code maxRelative} when {@code buckets} > 0; which of the content-to-position and position-to-content terms
     * are on; whether the relative embeddings are layer-normalised; the ContextPooler's activation.
     */
    public record Settings(int buckets, int maxRelative, int span, boolean c2p, boolean p2c, boolean normalised,
            Activation poolerActivation) {

        /** 1 + one per position term: scores are divided by √(head size × this). */
        public int scaleFactor() {
            return 1 + (c2p ? 1 : 0) + (p2c ? 1 : 0);
        }
    }

    private static final LayerNames LAYER = new LayerNames("attention.self.query_proj", "attention.self.key_proj",
            "attention.self.value_proj", "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense",
            "output.dense", "output.LayerNorm");

    public DebertaV2() {
        super("deberta-v2", "deberta.");
    }

    @Override
    public ConfigKeys configKeys() {
        return ConfigKeys.BERT.withTypeVocabulary("type_vocab_size", 0);
    }

    /** DeBERTa-v2/v3's attention settings; what this implementation does not do is refused by name. */
    @Override
    public Object readSettings(ConfigFields f, ModelConfig common) {
        int hidden = common.hiddenSize();
        if (!f.bool("relative_attention", false)) {
            throw f.error("relative_attention", "unsupported: false (expected true: DeBERTa without relative "
                    + "attention is not implemented)");
        }
        if (f.bool("position_biased_input", true)) {
            throw f.error("position_biased_input", "unsupported: true (expected false, as DeBERTa-v3: absolute "
                    + "position embeddings are not implemented)");
        }
        if (!f.bool("share_att_key", false)) {
            throw f.error("share_att_key", "unsupported: false (expected true: separate pos_key_proj / "
                    + "pos_query_proj are not implemented)");
        }
        if (f.intOr("conv_kernel_size", 0) > 0) {
            throw f.error("conv_kernel_size", "unsupported convolution layer (expected 0)");
        }
        if (f.json().has("embedding_size") && f.intOr("embedding_size", hidden) != hidden) {
            throw f.error("embedding_size", "unsupported embed_proj (expected the hidden size " + hidden + ")");
        }
        if (f.intOr("pooler_hidden_size", hidden) != hidden) {
            throw f.error("pooler_hidden_size", "expected the hidden size " + hidden);
        }
        boolean c2p = false;
        boolean p2c = false;
        JsonElement types = f.json().get("pos_att_type");
        List<String> names = new ArrayList<>();
        if (types != null && types.isJsonArray()) {
            types.getAsJsonArray().forEach(t -> names.add(t.getAsString()));
        } else if (types != null && types.isJsonPrimitive()) {
            names.addAll(List.of(types.getAsString().toLowerCase(Locale.ROOT).split("\\|")));
        }
        for (String t : names) {
            switch (t.trim()) {
                case "c2p" -> c2p = true;
                case "p2c" -> p2c = true;
                default -> throw f.error("pos_att_type", "unsupported value '" + t + "' (expected c2p and/or p2c)");
            }
        }
        int buckets = f.intOr("position_buckets", -1);
        int maxRelative = f.intOr("max_relative_positions", -1);
        if (maxRelative < 1) {
            maxRelative = common.maxPositions();
        }
        String norm = f.string("norm_rel_ebd", "none").toLowerCase(Locale.ROOT);
        if (!norm.equals("none") && !norm.equals("layer_norm")) {
            throw f.error("norm_rel_ebd", "unsupported value '" + norm + "' (expected none or layer_norm)");
        }
        return new Settings(buckets, maxRelative, buckets > 0 ? buckets : maxRelative, c2p, p2c,
                norm.equals("layer_norm"), f.activation("pooler_hidden_act", "gelu"));
    }

    @Override
    protected boolean hasPositionTable() {
        return false; // DeBERTa-v3: relative positions only
    }

    @Override
    protected void declareEncoderParameters(ParameterLayout layout) {
        ModelConfig c = layout.config();
        Settings r = c.settings(Settings.class);
        layout.base(Parameter.REL_EMB, "encoder.rel_embeddings.weight", 2L * r.span(), c.hiddenSize());
        if (r.normalised()) {
            layout.norm(Parameter.REL_NORM_W, Parameter.REL_NORM_B, "encoder.LayerNorm", true);
        }
    }

    @Override
    protected LayerNames layerNames() {
        return LAYER;
    }

    @Override
    protected ClassifierNames classifierNames() {
        return new ClassifierNames("pooler.dense", false, "classifier");
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return config.settings(Settings.class).poolerActivation();
    }

    @Override
    public int scoreScaleFactor(ModelConfig config) {
        return config.settings(Settings.class).scaleFactor();
    }

    @Override
    public AttentionTerms attentionTerms(EncoderOps ops, int seqLen, NDManager batchManager) {
        return new RelativeScores(ops, seqLen, batchManager);
    }

    /**
     * The disentangled attention terms of one pass: the (layer-normalised) relative embeddings and the bucketed
     * relative positions, shared by every layer; {@link #scoreBias} projects the embeddings with the layer's own
     * query and key weights (share_att_key) and gathers content-to-position and position-to-content scores, as
     * transformers' {@code disentangled_attention_bias}.
     */
    private static final class RelativeScores implements AttentionTerms {
        private final EncoderOps ops;
        private final Settings settings;
        private final NDArray embeddings;
        private final NDArray c2pIndex;
        private final NDArray p2cIndex;
        private final int s;

        RelativeScores(EncoderOps ops, int s, NDManager batchManager) {
            this.ops = ops;
            this.settings = ops.config().settings(Settings.class);
            this.s = s;
            NDArray table = ops.global(Parameter.REL_EMB);
            this.embeddings = settings.normalised() ? ops.layerNorm(table, Parameter.REL_NORM_W,
                    Parameter.REL_NORM_B) : table;
            int span = settings.span();
            long[] c2p = new long[s * s];
            long[] p2c = new long[s * s];
            for (int i = 0; i < s; i++) {
                for (int j = 0; j < s; j++) {
                    long rel = relativePosition(i - j, settings.buckets(), settings.maxRelative());
                    c2p[i * s + j] = Math.max(0, Math.min(2L * span - 1, rel + span));
                    p2c[i * s + j] = Math.max(0, Math.min(2L * span - 1, -rel + span));
                }
            }
            this.c2pIndex = batchManager.create(c2p, new Shape(s, s));
            this.p2cIndex = batchManager.create(p2c, new Shape(s, s));
        }

        /** [batch, heads, query, key]: (c2p + p2c) / scale, to add to the scaled content scores. */
        @Override
        public NDArray scoreBias(int layer, Map<ParameterRole, NDArray> w, NDArray q, NDArray k, NDArray scale) {
            Shape full = new Shape(q.getShape().get(0), ops.config().numHeads(), s, s);
            NDArray bias = null;
            if (settings.c2p()) {
                NDArray posKey = ops.tableHeads(EncoderOps.linear(embeddings, w.get(LayerRole.KEY_W),
                        w.get(LayerRole.KEY_B)));
                NDArray scores = q.matMul(posKey.transpose(0, 2, 1)); // [b, h, query, 2·span]
                bias = scores.gather(c2pIndex.broadcast(full), 3);
                scores.close();
            }
            if (settings.p2c()) {
                NDArray posQuery = ops.tableHeads(EncoderOps.linear(embeddings, w.get(LayerRole.QUERY_W),
                        w.get(LayerRole.QUERY_B)));
                NDArray scores = k.matMul(posQuery.transpose(0, 2, 1)); // [b, h, key, 2·span]
                NDArray p2c = scores.gather(p2cIndex.broadcast(full), 3).transpose(0, 1, 3, 2);
                scores.close();
                bias = bias == null ? p2c : bias.add(p2c);
            }
            return bias == null ? null : bias.mul(scale); // neither: relative embeddings unused, as in transformers
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
}
