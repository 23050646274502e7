package io.attributionatlas.model;

import java.util.List;

/**
 * Token ids of several sequences padded to a common length, row-major {@code [batch, seqLen]}.
 * {@code mask} is 1 at real tokens and 0 at padding, as Hugging Face's attention_mask.
 */
public record EncodedBatch(int batchSize, int seqLen, long[] ids, long[] typeIds, long[] mask) {

    public EncodedBatch {
        int n = batchSize * seqLen;
        if (ids.length != n || typeIds.length != n || mask.length != n) {
            throw new IllegalArgumentException("batch arrays must hold " + batchSize + " x " + seqLen + " values");
        }
    }

    /** Pads each sequence on the right with {@code padId}, token type 0 and mask 0. */
    public static EncodedBatch pad(List<long[]> ids, List<long[]> typeIds, long padId) {
        int b = ids.size();
        int s = ids.stream().mapToInt(a -> a.length).max().orElse(0);
        long[] outIds = new long[b * s];
        long[] outTypes = new long[b * s];
        long[] mask = new long[b * s];
        for (int i = 0; i < b; i++) {
            long[] row = ids.get(i);
            long[] types = typeIds.get(i);
            for (int j = 0; j < s; j++) {
                boolean real = j < row.length;
                outIds[i * s + j] = real ? row[j] : padId;
                outTypes[i * s + j] = real && types != null ? types[j] : 0;
                mask[i * s + j] = real ? 1 : 0;
            }
        }
        return new EncodedBatch(b, s, outIds, outTypes, mask);
    }

    public static EncodedBatch ofTexts(List<EncodedText> texts, long padId) {
        return pad(texts.stream().map(EncodedText::ids).toList(), texts.stream().map(EncodedText::typeIds).toList(),
                padId);
    }

    /** Number of real tokens of row {@code i}. */
    public int length(int i) {
        int n = 0;
        for (int j = 0; j < seqLen; j++) {
            n += (int) mask[i * seqLen + j];
        }
        return n;
    }
}
