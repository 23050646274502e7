package io.attributionatlas.model;

/** One input to predict or explain: a text and, for pair and QA models, a second text (the context). */
public record TextInput(String id, String text, String textPair) {

    public static TextInput of(String text) {
        return new TextInput(null, text, null);
    }
}
