package io.attributionatlas.report;

import com.google.gson.JsonObject;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.Prediction;

/** A prediction's JSON fields, shared by {@code predict} and {@code explain} output. */
public final class PredictionJson {

    private PredictionJson() {
    }

    /**
     * Adds {@code id}, {@code input_ids}, {@code token_type_ids}, {@code tokens}, {@code special_tokens_mask},
     * {@code word_ids}, {@code truncated}, and {@code logits}, {@code probabilities}, {@code label},
     * {@code label_index} (classification; label is the predicted one) or {@code start_logits},
     * {@code end_logits}, {@code answer} (QA).
     */
    public static JsonObject add(JsonObject o, Prediction p) {
        EncodedText e = p.encoding();
        if (p.input().id() != null) {
            o.addProperty("id", p.input().id());
        }
        o.add("input_ids", ExplanationJson.GSON.toJsonTree(e.ids()));
        o.add("token_type_ids", ExplanationJson.GSON.toJsonTree(e.typeIds()));
        o.add("tokens", ExplanationJson.GSON.toJsonTree(e.tokens()));
        o.add("special_tokens_mask", ExplanationJson.GSON.toJsonTree(e.special()));
        o.add("word_ids", ExplanationJson.GSON.toJsonTree(e.words()));
        o.addProperty("truncated", e.truncated());
        if (p.logits() != null) {
            o.add("logits", ExplanationJson.GSON.toJsonTree(p.logits()));
            o.add("probabilities", ExplanationJson.GSON.toJsonTree(p.probabilities()));
            o.addProperty("label", p.label());
            o.addProperty("label_index", p.labelIndex());
        }
        if (p.startLogits() != null) {
            o.add("start_logits", ExplanationJson.GSON.toJsonTree(p.startLogits()));
            o.add("end_logits", ExplanationJson.GSON.toJsonTree(p.endLogits()));
            o.add("answer", ExplanationJson.GSON.toJsonTree(p.answer()));
        }
        return o;
    }
}
