package io.attributionatlas.model;

import java.util.Locale;

/** The encoder families this project implements; {@code modelType} is config.json's {@code model_type}. */
public enum Architecture {
    BERT("bert", "bert."),
    DISTILBERT("distilbert", "distilbert."),
    ELECTRA("electra", "electra.");

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

    public static String supportedList() {
        return "bert, distilbert, electra";
    }
}
