package io.attributionatlas.model;

import ai.djl.ndarray.NDArray;
import java.util.HashMap;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * What a forward pass should expose. "Keep" options return internals; "tap" options add a zero-valued
 * leaf with gradient required ({@code h + z}) so that after one backward pass {@code z.getGradient()}
 * is ∂F/∂h at each tapped tensor, with nothing else in the graph changed.
 */
public final class ForwardOptions {

    NDArray embeddingOutput;
    NDArray mask;
    boolean keepHiddenStates;
    boolean keepAttentions;
    boolean keepValues;
    boolean keepQueriesKeys;
    boolean tapEmbedding;
    IntPredicate tapLayer = layer -> false;
    IntPredicate tapAttention = layer -> false;
    boolean headGate;
    final Map<String, NDArray> perturbations = new HashMap<>();
    /** A run of some layers only (see {@link #layers}): the first layer, the last, and the first one's input. */
    int firstLayer;
    int lastLayer = Integer.MAX_VALUE;
    NDArray layerInput;
    /** Per layer, a [batch, seq] multiplier of the value vectors (see {@link #valueKeep}). */
    final Map<Integer, NDArray> valueKeep = new HashMap<>();

    /** Internal tensors that can be tapped (for gradients) or perturbed (for finite differences, ablations). */
    public enum Site {
        /** The embeddings module's output {@code [batch, seq, embedding_size]}; the layer index is ignored. */
        EMBEDDING,
        /** A layer's output hidden states {@code [batch, seq, hidden]}. */
        LAYER_OUTPUT,
        /** A layer's attention probabilities {@code [batch, heads, query, key]}. */
        ATTENTION,
        /** A layer's head gate {@code [batch, heads]} (value 1 unless perturbed). */
        HEAD_GATE
    }

    /** Logits only. */
    public static ForwardOptions predictOnly() {
        return new ForwardOptions();
    }

    /**
     * The batch's attention mask [batch, seq] already on the device (instead of copying the batch's from the host:
     * on a GPU such a copy waits for the work queued before it).
     */
    public ForwardOptions mask(NDArray deviceMask) {
        this.mask = deviceMask;
        return this;
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

    /**
     * Keep each layer's query and key vectors {@code [batch, heads, seq, head_size]} as the scores use them (after
     * rotary positions) and the family's score offset (BertViz's neuron view).
     */
    public ForwardOptions keepQueriesKeys() {
        this.keepQueriesKeys = true;
        return this;
    }

    public ForwardOptions tapEmbedding() {
        this.tapEmbedding = true;
        return this;
    }

    /** Tap every layer's output hidden states. */
    public ForwardOptions tapLayers() {
        return tapLayers(layer -> true);
    }

    /** Tap the output hidden states of the layers {@code which} accepts. */
    public ForwardOptions tapLayers(IntPredicate which) {
        this.tapLayer = which;
        return this;
    }

    /** Tap every layer's attention probabilities. */
    public ForwardOptions tapAttentions() {
        return tapAttentions(layer -> true);
    }

    /** Tap the attention probabilities of the layers {@code which} accepts. */
    public ForwardOptions tapAttentions(IntPredicate which) {
        this.tapAttention = which;
        return this;
    }

    /** Multiply each head's context by a gate ξ = 1 that requires gradient (head importance, Michel et al. 2019). */
    public ForwardOptions headGate() {
        this.headGate = true;
        return this;
    }

    /**
     * Runs layers {@code first} to {@code last} only, from {@code input} [batch, seq, hidden]: the output of layer
     * {@code first} − 1 (for 0, the embedding output after any projection). The result's hidden states are those
     * layers' outputs (with {@link #keepHiddenStates}) and its last hidden state is layer {@code last}'s output; it
     * has no head outputs unless {@code last} is the last layer. The input is the caller's: the pass does not close it.
     */
    public ForwardOptions layers(int first, int last, NDArray input) {
        this.firstLayer = first;
        this.lastLayer = last;
        this.layerInput = input;
        return this;
    }

    /**
     * Multiplies layer {@code layer}'s value vectors, in every head, by {@code keep} [batch, seq]: 0 zeroes a token's
     * value vector (Value Zeroing, Mohebbi et al. 2023), 1 keeps it.
     */
    public ForwardOptions valueKeep(int layer, NDArray keep) {
        valueKeep.put(layer, keep);
        return this;
    }

    /** Everything kept and tapped. */
    public static ForwardOptions all() {
        return new ForwardOptions().keepHiddenStates().keepAttentions().keepValues().tapEmbedding().tapLayers()
                .tapAttentions().headGate();
    }

    /** Adds {@code delta} (same shape) to an internal tensor; the tap, if any, is added as well. */
    public ForwardOptions perturb(Site site, int layer, NDArray delta) {
        perturbations.put(key(site, layer), delta);
        return this;
    }

    NDArray perturbation(Site site, int layer) {
        return perturbations.get(key(site, layer));
    }

    private static String key(Site site, int layer) {
        return site == Site.EMBEDDING ? site.name() : site.name() + ":" + layer;
    }
}
