package io.attributionatlas.model;

import java.util.List;
import java.util.Locale;

/** What the model's head computes. Inferred from config.json's {@code architectures}, overridable. */
public enum Task {
    SEQUENCE_CLASSIFICATION("classification"),
    QUESTION_ANSWERING("qa"),
    ENCODER("encoder");

    private final String cliName;

    Task(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public static Task parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT).replace('-', '_');
        for (Task t : values()) {
            if (t.cliName.equals(n) || t.name().equalsIgnoreCase(n)) {
                return t;
            }
        }
        throw new IllegalArgumentException("unknown task '" + name + "' (expected classification, qa or encoder)");
    }

    /** BertForSequenceClassification → classification, *ForQuestionAnswering → qa, BertModel → encoder. */
    static Task infer(List<String> architectures) {
        for (String a : architectures) {
            if (a.endsWith("ForSequenceClassification")) {
                return SEQUENCE_CLASSIFICATION;
            }
            if (a.endsWith("ForQuestionAnswering")) {
                return QUESTION_ANSWERING;
            }
        }
        return ENCODER;
    }
}
