package io.attributionatlas.attribution;

import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.SpecialTokens;
import java.util.Locale;

/**
 * The reference input x': every non-special token replaced by one token id (pad by default, or
 * [MASK], [UNK], any id), or a zero embedding output. Special tokens, positions and token types stay.
 *
 * @param kind pad, mask, unk, zero or id
 * @param tokenId the replacement id when kind is id
 */
public record Baseline(String kind, long tokenId) {

    public static final Baseline PAD = new Baseline("pad", -1);

    public static Baseline parse(String text) {
        String t = text.trim().toLowerCase(Locale.ROOT);
        return switch (t) {
            case "pad", "mask", "unk", "zero" -> new Baseline(t, -1);
            default -> {
                try {
                    long id = Long.parseLong(t);
                    if (id < 0) {
                        throw new NumberFormatException();
                    }
                    yield new Baseline("id", id);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException("unknown baseline '" + text
                            + "' (expected pad, mask, unk, zero or a token id)");
                }
            }
        };
    }

    public boolean isZeroEmbedding() {
        return kind.equals("zero");
    }

    /** The baseline's token ids for one encoded input (the input ids themselves for a zero baseline). */
    public long[] ids(EncodedText text, SpecialTokens special, int vocabularySize) {
        long replacement = switch (kind) {
            case "pad" -> special.pad();
            case "mask" -> special.mask();
            case "unk" -> special.unk();
            case "id" -> tokenId;
            default -> -1;
        };
        if (isZeroEmbedding()) {
            return text.ids().clone();
        }
        if (replacement < 0 || replacement >= vocabularySize) {
            throw new IllegalArgumentException("baseline " + this.describe() + ": the tokenizer has no such token"
                    + " in a vocabulary of " + vocabularySize);
        }
        long[] ids = text.ids().clone();
        for (int i = 0; i < ids.length; i++) {
            if (!text.special()[i]) {
                ids[i] = replacement;
            }
        }
        return ids;
    }

    public String describe() {
        return kind.equals("id") ? Long.toString(tokenId) : kind;
    }
}
