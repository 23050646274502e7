package io.attributionatlas.model.family;

import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ConfigFields;
import io.attributionatlas.model.ModelConfig;

/**
 * ALBERT: factorised embeddings ({@code embedding_size}) always projected to the hidden size, and one layer's
 * weights shared by every layer (the same names, loaded once); pooler (dense → tanh) then the classifier.
 */
public final class Albert extends PostNormFamily {

    private static final LayerNames LAYER = new LayerNames("attention.query", "attention.key", "attention.value",
            "attention.dense", "attention.LayerNorm", "ffn", "ffn_output", "full_layer_layer_norm");

    public Albert() {
        super("albert", "albert.");
    }

    @Override
    public ConfigKeys configKeys() {
        return ConfigKeys.BERT.withEmbedding("embedding_size");
    }

    @Override
    public Object readSettings(ConfigFields fields, ModelConfig common) {
        // One group of one layer, repeated: what every released ALBERT uses.
        for (String key : new String[] {"num_hidden_groups", "inner_group_num"}) {
            if (fields.intOr(key, 1) != 1) {
                throw fields.error(key, "unsupported " + key + " " + fields.intOr(key, 1)
                        + " (expected 1: one shared layer repeated)");
            }
        }
        return super.readSettings(fields, common);
    }

    @Override
    public boolean projectsEmbeddings(ModelConfig config) {
        return true;
    }

    @Override
    protected String projectionName() {
        return "encoder.embedding_hidden_mapping_in";
    }

    @Override
    protected String layerPrefix(int layer) {
        return "encoder.albert_layer_groups.0.albert_layers.0.";
    }

    @Override
    protected LayerNames layerNames() {
        return LAYER;
    }

    @Override
    protected ClassifierNames classifierNames() {
        return new ClassifierNames("pooler", true, "classifier");
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.TANH;
    }
}
