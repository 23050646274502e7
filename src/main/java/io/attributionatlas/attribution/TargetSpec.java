package io.attributionatlas.attribution;

import java.util.Locale;

/**
 * Which output F is explained: the predicted class (default), the sample's label, a class given by
 * index or name, or every class. Question answering always explains the start and the end logit at
 * the predicted span (or their maxima, with {@link QaReduction#MAX}).
 *
 * @param kind predicted, label, class or all
 * @param value the class index or name when kind is class
 */
public record TargetSpec(String kind, String value) {

    public static final TargetSpec PREDICTED = new TargetSpec("predicted", null);

    /** What F is: the logit, or the softmax probability (over classes, or over positions for QA). */
    public enum Output {
        LOGIT, PROBABILITY;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static Output parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "logit" -> LOGIT;
                case "probability" -> PROBABILITY;
                default -> throw new IllegalArgumentException("unknown output '" + s + "' (expected logit or probability)");
            };
        }
    }

    /**
     * QA targets: the output at the predicted answer span's start and end (index); at the start and end logits'
     * own argmax positions, unconstrained by span validity (argmax: transformers' and Captum's tutorials'
     * convention); or its maximum over positions (max).
     */
    public enum QaReduction {
        INDEX, ARGMAX, MAX;

        public String cliName() {
            return name().toLowerCase(Locale.ROOT);
        }

        public static QaReduction parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "index" -> INDEX;
                case "argmax" -> ARGMAX;
                case "max" -> MAX;
                default -> throw new IllegalArgumentException("unknown qa_reduction '" + s
                        + "' (expected index, argmax or max)");
            };
        }
    }

    public static TargetSpec parse(String text) {
        String t = text.trim();
        return switch (t.toLowerCase(Locale.ROOT)) {
            case "predicted", "label", "all" -> new TargetSpec(t.toLowerCase(Locale.ROOT), null);
            default -> new TargetSpec("class", t);
        };
    }

    public String describe() {
        return kind.equals("class") ? value : kind;
    }
}
