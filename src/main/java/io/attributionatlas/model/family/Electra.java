package io.attributionatlas.model.family;

import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ModelConfig;

/**
 * ELECTRA: BERT's layers; embeddings of {@code embedding_size}, projected by {@code embeddings_project} where that
 * differs from the hidden size; head dense → GELU → out_proj on [CLS].
 */
public final class Electra extends PostNormFamily {

    public Electra() {
        super("electra", "electra.");
    }

    @Override
    public ConfigKeys configKeys() {
        return ConfigKeys.BERT.withEmbedding("embedding_size");
    }

    @Override
    protected ClassifierNames classifierNames() {
        return ClassifierNames.DENSE_OUT_PROJ;
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.GELU;
    }
}
