package io.attributionatlas.model;

/**
 * One tokenized input (a text or a text pair) with special tokens added.
 *
 * @param ids token ids
 * @param typeIds token type (segment) ids: 0 for the first text, 1 for the pair text
 * @param tokens token strings
 * @param special whether each token is a special token ([CLS], [SEP], …)
 * @param sequence 0 or 1 for tokens of the first or second text, -1 for special tokens
 * @param words index of the word each token belongs to, counted across both texts; -1 for special tokens
 * @param truncated whether tokens were dropped to fit the maximum length
 */
public record EncodedText(long[] ids, long[] typeIds, String[] tokens, boolean[] special, int[] sequence,
        int[] words, boolean truncated) {

    public int length() {
        return ids.length;
    }
}
