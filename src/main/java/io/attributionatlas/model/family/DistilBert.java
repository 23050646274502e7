package io.attributionatlas.model.family;

import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ModelConfig;

/**
 * DistilBERT: its own key names ({@code dim}, {@code n_layers}, …, ε fixed at 1e-12), no token types, layers under
 * {@code transformer.layer}; head pre_classifier → ReLU → classifier on [CLS].
 */
public final class DistilBert extends PostNormFamily {

    private static final ConfigKeys KEYS = new ConfigKeys("dim", "n_layers", "n_heads", "hidden_dim", "activation",
            null, 1e-12, null, null, 0);
    private static final LayerNames LAYER = new LayerNames("attention.q_lin", "attention.k_lin", "attention.v_lin",
            "attention.out_lin", "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm");

    public DistilBert() {
        super("distilbert", "distilbert.");
    }

    @Override
    public ConfigKeys configKeys() {
        return KEYS;
    }

    @Override
    protected String layerPrefix(int layer) {
        return "transformer.layer." + layer + ".";
    }

    @Override
    protected LayerNames layerNames() {
        return LAYER;
    }

    @Override
    protected ClassifierNames classifierNames() {
        return new ClassifierNames("pre_classifier", false, "classifier");
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.RELU;
    }
}
