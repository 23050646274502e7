package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import java.util.List;

/**
 * Outputs and, as requested by {@link ForwardOptions}, internals of one forward pass. Lists are indexed
 * by layer (0-based) and empty when not requested. Tap leaves hold ∂F/∂(tensor) after a backward pass.
 *
 * @param logits classification logits {@code [batch, labels]}, or null
 * @param startLogits QA start logits {@code [batch, seq]}, or null
 * @param endLogits QA end logits {@code [batch, seq]}, or null
 * @param lastHiddenState the final layer's output {@code [batch, seq, hidden]}
 * @param embeddingOutput the embeddings module's output {@code [batch, seq, embedding_size]} (before
 *     ELECTRA's projection), tapped when requested
 * @param hiddenStates every layer's output {@code [batch, seq, hidden]}
 * @param attentions every layer's attention probabilities {@code [batch, heads, query, key]}
 * @param values every layer's value vectors {@code [batch, heads, seq, head_size]}, value bias included
 * @param embeddingTap the leaf added to the embedding output, or null
 * @param layerTaps leaves added to the layer outputs (null for untapped layers; empty if none is tapped)
 * @param attentionTaps leaves added to the attention probabilities (null for untapped layers; empty if none)
 * @param headGates per layer, the gate ξ {@code [batch, heads]} multiplying each head's context
 * @param queries every layer's query vectors {@code [batch, heads, seq, head_size]} as the scores use them
 * @param keys every layer's key vectors, likewise
 * @param scoreOffsets per layer, what the family adds to the scaled scores q·k / √d besides the padding mask
 *     (relative-position bias, disentangled terms, a local window's mask), broadcastable to
 *     {@code [batch, heads, seq, seq]}; null for a layer with none. Softmax over keys of
 *     {@code q·k × scale + offset} (padded keys masked) is the layer's attention.
 * @param scoreScale the factor of q·k in the scores
 */
public record ForwardResult(
        NDArray logits,
        NDArray startLogits,
        NDArray endLogits,
        NDArray lastHiddenState,
        NDArray embeddingOutput,
        List<NDArray> hiddenStates,
        List<NDArray> attentions,
        List<NDArray> values,
        NDArray embeddingTap,
        List<NDArray> layerTaps,
        List<NDArray> attentionTaps,
        List<NDArray> headGates,
        List<NDArray> queries,
        List<NDArray> keys,
        List<NDArray> scoreOffsets,
        float scoreScale) {
}
