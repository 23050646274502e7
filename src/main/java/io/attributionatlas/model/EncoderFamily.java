package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.attributionatlas.model.ParameterLayout.LayerRole;
import java.util.Map;

/**
 * One encoder family ({@code model_type} in config.json): everything in which it differs from the others. The
 * encoder itself ({@link TransformerModel}) is one generic loop, embeddings → layers → head, that asks the
 * family for these parts:
 * <ul>
 *   <li>config.json: its key names ({@link #configKeys}), its own settings and refusals ({@link #readSettings});
 *   <li>its parameter names and shapes ({@link #declareParameters});
 *   <li>its embeddings: positions from the padding index or not; token types and a factorised projection where
 *       it declares their parameters;
 *   <li>its attention: the projections and the extra terms of the scores (relative bias, disentangled, RoPE,
 *       window), for one forward pass ({@link #attentionTerms});
 *   <li>its layer ordering ({@link #layerTail}: post-norm by default), its final norm and its heads;
 *   <li>its special-token names and punctuation.
 * </ul>
 * Families are found by {@link EncoderFamilies}, which reads the registry
 * {@code META-INF/services/io.attributionatlas.model.EncoderFamily}: a new family is one class there, one line
 * here (README, "Adding a family").
 */
public interface EncoderFamily {

    /** config.json's {@code model_type}. */
    String modelType();

    /** The base-model prefix Hugging Face uses inside task models, e.g. "bert." in BertForSequenceClassification. */
    String basePrefix();

    /** The names of the keys every family has, under this family's spelling. */
    default ConfigKeys configKeys() {
        return ConfigKeys.BERT;
    }

    /**
     * Reads what only this family has in config.json, refusing what is not implemented by key; {@code common} is
     * the config read so far. Returns the family's settings record ({@link ModelConfig#settings(Class)}), or null.
     */
    default Object readSettings(ConfigFields fields, ModelConfig common) {
        return null;
    }

    /** Why this family does not implement the task, or null when it does. */
    default String refusesTask(Task task) {
        return null;
    }

    /** RoBERTa's embeddings: positions count only real tokens and start after the padding index. */
    default boolean positionsFromPadding() {
        return false;
    }

    /** Whether a projection maps the embedding size to the hidden size (ELECTRA when they differ; ALBERT always). */
    default boolean projectsEmbeddings(ModelConfig config) {
        return config.embeddingSize() != config.hiddenSize();
    }

    /** Declares every parameter the configuration needs, with its name and shape ({@link ParameterLayout}). */
    void declareParameters(ParameterLayout layout);

    /** Scores are divided by √(head size × this): 1 but for DeBERTa's extra position terms. */
    default int scoreScaleFactor(ModelConfig config) {
        return 1;
    }

    /** The attention terms of one forward pass over {@code seqLen} tokens (built once, shared by every layer). */
    default AttentionTerms attentionTerms(EncoderOps ops, int seqLen, NDManager batchManager) {
        return AttentionTerms.NONE;
    }

    /** Whether the head reads the mean of the real tokens' states (else the first token's: [CLS], &lt;s&gt;). */
    default boolean poolsMean(ModelConfig config) {
        return false;
    }

    /**
     * Whether its layers are pre-norm (a norm before attention and before the feed-forward block, none after the
     * residuals), as ModernBERT's; post-norm by default.
     */
    default boolean preNorm() {
        return false;
    }

    /** A layer after attention: post-norm by default (residual + norm, feed-forward, residual + norm). */
    default NDArray layerTail(EncoderOps ops, Map<ParameterRole, NDArray> w, NDArray attnDense, NDArray x) {
        return ops.postNormTail(w, attnDense, x);
    }

    /** The norm after the last layer, read by the heads (pre-norm families); x itself where there is none. */
    default NDArray finalNorm(EncoderOps ops, NDArray x) {
        return x;
    }

    /**
     * The activation between the classification head's dense layer and its output (a decomposition linearises
     * it), or null where the head is not dense → activation → output on the first token.
     */
    default Activation classifierActivation(ModelConfig config) {
        return null;
    }

    /**
     * Why a decomposition method (ALTI, DecompX) has no decomposition of this family's parts in its paper, or null
     * where it has one.
     */
    default String refusesDecomposition(String method) {
        return null;
    }

    /** The classification logits [batch, labels] from the last hidden state [batch, S, hidden]. */
    NDArray classify(EncoderOps ops, NDArray last, NDArray mask);

    /** Special-token names used when the tokenizer's own files do not name them. */
    default SpecialTokenNames specialTokenNames() {
        return SpecialTokenNames.WORD_PIECE;
    }

    /** "." and "," as WordPiece writes them, and as BPE ("Ġ.") and SentencePiece ("▁.") write them after a space. */
    default boolean isPunctuation(String token) {
        String t = token.startsWith("\u0120") || token.startsWith("\u2581") ? token.substring(1) : token;
        return t.equals(".") || t.equals(",");
    }

    /**
     * config.json's names for the keys every family has. {@code eps} null: the family has no key and uses
     * {@code defaultEps}; {@code embedding} null: the embedding size is the hidden size; {@code typeVocabulary}
     * null: no token types.
     */
    record ConfigKeys(String hidden, String layers, String heads, String intermediate, String activation, String eps,
            double defaultEps, String embedding, String typeVocabulary, int defaultTypeVocabulary) {
        public static final ConfigKeys BERT = new ConfigKeys("hidden_size", "num_hidden_layers",
                "num_attention_heads", "intermediate_size", "hidden_act", "layer_norm_eps", 1e-12, null,
                "type_vocab_size", 2);

        public ConfigKeys withEmbedding(String key) {
            return new ConfigKeys(hidden, layers, heads, intermediate, activation, eps, defaultEps, key,
                    typeVocabulary, defaultTypeVocabulary);
        }

        public ConfigKeys withTypeVocabulary(String key, int fallback) {
            return new ConfigKeys(hidden, layers, heads, intermediate, activation, eps, defaultEps, embedding, key,
                    fallback);
        }
    }

    /** The special tokens' conventional names. */
    record SpecialTokenNames(String cls, String sep, String pad, String mask, String unk) {
        public static final SpecialTokenNames WORD_PIECE = new SpecialTokenNames("[CLS]", "[SEP]", "[PAD]", "[MASK]",
                "[UNK]");
        public static final SpecialTokenNames BPE = new SpecialTokenNames("<s>", "</s>", "<pad>", "<mask>", "<unk>");
    }

    /**
     * The attention of one forward pass: query, key and value from a layer's input, an additive term of the
     * scaled scores, and the mask of a layer. The default is BERT's: three linear projections, no term, the
     * padding mask.
     */
    interface AttentionTerms {
        AttentionTerms NONE = new AttentionTerms() {
        };

        /** q, k, v as [batch, heads, S, head size] from the layer's input x [batch, S, hidden]. */
        default NDArray[] project(EncoderOps ops, int layer, Map<ParameterRole, NDArray> w, NDArray x) {
            return new NDArray[] {
                ops.splitHeads(EncoderOps.linear(x, w.get(LayerRole.QUERY_W), w.get(LayerRole.QUERY_B))),
                ops.splitHeads(EncoderOps.linear(x, w.get(LayerRole.KEY_W), w.get(LayerRole.KEY_B))),
                ops.splitHeads(EncoderOps.linear(x, w.get(LayerRole.VALUE_W), w.get(LayerRole.VALUE_B)))};
        }

        /** [batch or 1, heads, S, S] to add to the scaled scores, or null (scale: 1/√(head size × factor)). */
        default NDArray scoreBias(int layer, Map<ParameterRole, NDArray> w, NDArray q, NDArray k, NDArray scale) {
            return null;
        }

        /** The additive mask of a layer: the padding mask [batch, 1, 1, S] unless the layer sees less. */
        default NDArray mask(int layer, NDArray paddingMask) {
            return paddingMask;
        }
    }
}
