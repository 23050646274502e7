package io.attributionatlas.attribution;

/**
 * A sample's contextual token embeddings (exBERT's corpus search): the output hidden states of chosen layers at
 * chosen token positions, with the key each head attends to most from that position in the same layer.
 *
 * @param layers the layers (0-based; a layer's output, as head L0-H0 is layer 0's)
 * @param positions the token positions, ascending
 * @param vectors [layer][position][hidden]
 * @param attended [layer][position][head]: the key position of the largest attention weight, or null when the
 *     attention was not computed
 */
public record TokenEmbeddings(int[] layers, int[] positions, float[][][] vectors, int[][][] attended) {
}
