package io.attributionatlas.model.family;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ConfigFields;
import io.attributionatlas.model.EncoderOps;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.ParameterLayout;
import io.attributionatlas.model.ParameterRole;
import java.util.Map;

/**
 * MPNet: BERT's post-norm layers under {@code attention.attn.q/k/v/o}; positions from pad_token_id + 1 as RoBERTa,
 * no token types; a relative position bias, T5's bidirectional log buckets looked up in one
 * {@code encoder.relative_attention_bias} table [buckets, heads] and added to every layer's scaled scores; head
 * dense → tanh → out_proj on {@code <s>}.
 */
public final class Mpnet extends PostNormFamily {

    /** The relative attention bias table. */
    enum Parameter implements ParameterRole { RELATIVE_BIAS }

    /** {@code relative_attention_num_buckets}, and the distance beyond which buckets stop growing (transformers' 128). */
    public record Settings(int buckets, int maxDistance) {
    }

    private static final int MAX_DISTANCE = 128;
    private static final LayerNames LAYER = new LayerNames("attention.attn.q", "attention.attn.k", "attention.attn.v",
            "attention.attn.o", "attention.LayerNorm", "intermediate.dense", "output.dense", "output.LayerNorm");

    public Mpnet() {
        super("mpnet", "mpnet.");
    }

    @Override
    public ConfigKeys configKeys() {
        return ConfigKeys.BERT.withTypeVocabulary(null, 0);
    }

    @Override
    public Object readSettings(ConfigFields fields, ModelConfig common) {
        return new Settings(fields.intOr("relative_attention_num_buckets", 32), MAX_DISTANCE);
    }

    @Override
    public boolean positionsFromPadding() {
        return true;
    }

    @Override
    public SpecialTokenNames specialTokenNames() {
        return SpecialTokenNames.BPE;
    }

    @Override
    protected void declareEncoderParameters(ParameterLayout layout) {
        ModelConfig c = layout.config();
        layout.base(Parameter.RELATIVE_BIAS, "encoder.relative_attention_bias.weight",
                c.settings(Settings.class).buckets(), c.numHeads());
    }

    @Override
    protected LayerNames layerNames() {
        return LAYER;
    }

    @Override
    protected ClassifierNames classifierNames() {
        return ClassifierNames.DENSE_OUT_PROJ;
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.TANH;
    }

    /** One [1, heads, S, S] bias per pass, the same for every layer (transformers' compute_position_bias). */
    @Override
    public AttentionTerms attentionTerms(EncoderOps ops, int seqLen, NDManager batchManager) {
        Settings settings = ops.config().settings(Settings.class);
        long[] buckets = new long[seqLen * seqLen];
        for (int i = 0; i < seqLen; i++) {
            for (int j = 0; j < seqLen; j++) {
                buckets[i * seqLen + j] = bucket(j - i, settings.buckets(), settings.maxDistance());
            }
        }
        NDArray index = batchManager.create(buckets, new Shape(seqLen, seqLen));
        NDArray bias = EncoderOps.lookup(index, ops.global(Parameter.RELATIVE_BIAS)) // [S, S, heads]
                .transpose(2, 0, 1).expandDims(0);
        return new AttentionTerms() {
            @Override
            public NDArray scoreBias(int layer, Map<ParameterRole, NDArray> w, NDArray q, NDArray k, NDArray scale) {
                return bias;
            }
        };
    }

    /**
     * T5's bidirectional bucket of key − query: half the buckets for each sign; exact below a quarter of them,
     * logarithmic up to {@code maxDistance} beyond (float32, as PyTorch computes it).
     */
    static long bucket(int relative, int buckets, int maxDistance) {
        int half = buckets / 2;
        int n = -relative;
        long ret = n < 0 ? half : 0;
        n = Math.abs(n);
        int maxExact = half / 2;
        if (n < maxExact) {
            return ret + n;
        }
        float scaled = (float) Math.log((float) n / maxExact) / (float) Math.log(maxDistance / (double) maxExact)
                * (half - maxExact);
        return ret + Math.min(maxExact + (long) scaled, half - 1);
    }
}
