package io.attributionatlas.job;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.util.ArrayList;
import java.util.List;

/**
 * SQuAD JSON (v1.1, v2.0) as samples: one pair sample per question (text = question, text pair = context, id = the
 * question's id). The document's structure is checked as it is read, and a wrong one is an
 * {@link IllegalArgumentException} naming the path and the place ({@code data[2].paragraphs[0]}); a question with
 * a missing question or context is still a sample, which the job turns into an error row.
 */
final class SquadCorpus {

    /** One question: its id (may be null), question, context and raw JSON. */
    record Question(String id, String question, String context, String raw) {
    }

    private SquadCorpus() {
    }

    static List<Question> parse(String json, String path) {
        JsonElement root;
        try {
            root = JsonParser.parseString(json);
        } catch (RuntimeException e) {
            throw notSquad(path, "not JSON: " + e.getMessage());
        }
        JsonArray data = array(object(root, path, "the document"), "data", path, "the document");
        List<Question> questions = new ArrayList<>();
        for (int a = 0; a < data.size(); a++) {
            String article = "data[" + a + "]";
            JsonArray paragraphs = array(object(data.get(a), path, article), "paragraphs", path, article);
            for (int p = 0; p < paragraphs.size(); p++) {
                String paragraph = article + ".paragraphs[" + p + "]";
                JsonObject par = object(paragraphs.get(p), path, paragraph);
                String context = string(par, "context");
                JsonArray qas = array(par, "qas", path, paragraph);
                for (int q = 0; q < qas.size(); q++) {
                    JsonObject question = object(qas.get(q), path, paragraph + ".qas[" + q + "]");
                    questions.add(new Question(string(question, "id"), string(question, "question"), context,
                            question.toString()));
                }
            }
        }
        return questions;
    }

    /** A string member, or the text of a number or boolean; null when missing, null, an object or an array. */
    private static String string(JsonObject o, String key) {
        JsonElement e = o.get(key);
        return e != null && e.isJsonPrimitive() ? e.getAsString() : null;
    }

    private static JsonObject object(JsonElement e, String path, String where) {
        if (e == null || !e.isJsonObject()) {
            throw notSquad(path, where + " is not an object");
        }
        return e.getAsJsonObject();
    }

    private static JsonArray array(JsonObject o, String key, String path, String where) {
        JsonElement e = o.get(key);
        if (e == null || !e.isJsonArray()) {
            throw notSquad(path, where + " has no \"" + key + "\" array");
        }
        return e.getAsJsonArray();
    }

    private static IllegalArgumentException notSquad(String path, String problem) {
        String p = problem.length() > 200 ? problem.substring(0, 200) + "…" : problem;
        return new IllegalArgumentException("input.path " + path + ": not SQuAD JSON (" + p + ")");
    }
}
