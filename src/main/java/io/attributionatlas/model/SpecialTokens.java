package io.attributionatlas.model;

/** Ids of the special tokens; -1 where the vocabulary has none. */
public record SpecialTokens(long cls, long sep, long pad, long mask, long unk) {

    public boolean isSpecial(long id) {
        return id >= 0 && (id == cls || id == sep || id == pad || id == mask || id == unk);
    }
}
