package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;

/**
 * What a forward pass should expose. "Keep" options return internals; "tap" options add a zero-valued
 * leaf with gradient required ({@code h + z}) so that after one backward pass {@code z.getGradient()}
 * is ∂F/∂h at each tapped tensor, with nothing else in the graph changed.
 */
public final class ForwardOptions {

    NDArray embeddingOutput;
    boolean keepHiddenStates;
    boolean keepAttentions;
    boolean keepValues;
    boolean tapEmbedding;
    boolean tapLayers;
    boolean tapAttentions;
    boolean headGate;

    /** Logits only. */
    public static ForwardOptions predictOnly() {
        return new ForwardOptions();
    }

    /** Start from this embedding output {@code [batch, seq, embedding_size]} instead of the token ids. */
    public ForwardOptions startFrom(NDArray embeddingOutput) {
        this.embeddingOutput = embeddingOutput;
        return this;
    }

    public ForwardOptions keepHiddenStates() {
        this.keepHiddenStates = true;
        return this;
    }

    public ForwardOptions keepAttentions() {
        this.keepAttentions = true;
        return this;
    }

    /** Keep each layer's value vectors {@code [batch, heads, seq, head_size]} (for vector norms). */
    public ForwardOptions keepValues() {
        this.keepValues = true;
        return this;
    }

    public ForwardOptions tapEmbedding() {
        this.tapEmbedding = true;
        return this;
    }

    /** Tap every layer's output hidden states. */
    public ForwardOptions tapLayers() {
        this.tapLayers = true;
        return this;
    }

    /** Tap every layer's attention probabilities. */
    public ForwardOptions tapAttentions() {
        this.tapAttentions = true;
        return this;
    }

    /** Multiply each head's context by a gate ξ = 1 that requires gradient (head importance, Michel et al. 2019). */
    public ForwardOptions headGate() {
        this.headGate = true;
        return this;
    }

    /** Everything kept and tapped. */
    public static ForwardOptions all() {
        return new ForwardOptions().keepHiddenStates().keepAttentions().keepValues().tapEmbedding().tapLayers()
                .tapAttentions().headGate();
    }

    boolean needsGradient() {
        return tapEmbedding || tapLayers || tapAttentions || headGate;
    }
}
