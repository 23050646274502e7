package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.TextInput;

/**
 * One input to explain: its text, its encoding, and (for {@code target=label}) its label's class index.
 */
public record Sample(TextInput input, EncodedText encoding, Integer labelIndex) {

    public int length() {
        return encoding.length();
    }
}
