package io.attributionatlas.model;

import java.util.Locale;

/**
 * The encoder families this project implements, the registry by config.json's {@code model_type}; what differs
 * between them (parameter names, embeddings, heads) is read from the family by {@link ModelConfig},
 * {@link ParameterLayout} and {@link TransformerModel}. A new family goes here, with its parameter names in
 * ParameterLayout and its embeddings and head in TransformerModel (README, "Model families").
 */
public enum Architecture {
    BERT("bert", "bert."),
    DISTILBERT("distilbert", "distilbert."),
    ELECTRA("electra", "electra."),
    /** Position ids from pad_token_id + 1, skipping padding; head dense → tanh → out_proj on {@code <s>}. */
    ROBERTA("roberta", "roberta."),
    /** RoBERTa with a SentencePiece (Unigram) vocabulary. */
    XLM_ROBERTA("xlm-roberta", "roberta."),
    /** Factorized embeddings projected to the hidden size, one layer's weights shared by every layer. */
    ALBERT("albert", "albert."),
    /**
     * DeBERTa-v2/v3: disentangled attention (content-to-position and position-to-content scores from shared
     * relative embeddings, log position buckets), no absolute positions, ContextPooler head.
     */
    DEBERTA_V2("deberta-v2", "deberta."),
    /**
     * ModernBERT: pre-norm layers without biases, fused QKV, RoPE with a global and a local θ, sliding-window
     * attention on the local layers, GeGLU MLP, final norm, mean or CLS pooling head.
     */
    MODERNBERT("modernbert", "model.");

    private final String modelType;
    private final String basePrefix;

    Architecture(String modelType, String basePrefix) {
        this.modelType = modelType;
        this.basePrefix = basePrefix;
    }

    public String modelType() {
        return modelType;
    }

    /** The base-model prefix Hugging Face uses inside task models, e.g. "bert." in BertForSequenceClassification. */
    public String basePrefix() {
        return basePrefix;
    }

    public static Architecture fromModelType(String modelType) {
        String t = modelType == null ? "" : modelType.toLowerCase(Locale.ROOT);
        for (Architecture a : values()) {
            if (a.modelType.equals(t)) {
                return a;
            }
        }
        return null;
    }

    /** Whether this family implements the task (ModernBERT: classification and the bare encoder). */
    public boolean supports(Task task) {
        return !(this == MODERNBERT && task == Task.QUESTION_ANSWERING);
    }

    /** RoBERTa's embeddings: positions count only real tokens and start after the padding index. */
    public boolean positionsFromPadding() {
        return this == ROBERTA || this == XLM_ROBERTA;
    }

    public static String supportedList() {
        return String.join(", ", java.util.Arrays.stream(values()).map(Architecture::modelType).toList());
    }
}
