package io.attributionatlas.attribution;

/**
 * A sample's per-head query and key vectors as its attention scores use them (BertViz's neuron view). For layer l,
 * head h, query i: {@code attention[l][h][i] = softmax_j(scale · q_i · k_j + offset[l][h][i][j])}.
 *
 * @param queries [layer][head][token][head_size] (after rotary positions where the family has them)
 * @param keys [layer][head][token][head_size]
 * @param scoreOffsets [layer][head][query][key]: the family's relative-position or disentangled terms and a local
 *     window's mask (the lowest float outside it); null for a layer with none
 * @param scale the factor of q · k (1/√head_size, or the family's)
 */
public record QueryKeyVectors(float[][][][] queries, float[][][][] keys, float[][][][] scoreOffsets, float scale) {
}
