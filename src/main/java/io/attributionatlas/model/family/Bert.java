package io.attributionatlas.model.family;

import io.attributionatlas.model.Activation;
import io.attributionatlas.model.ModelConfig;

/** BERT: absolute positions, token types, pooler (dense → tanh on [CLS]) in the base model, then the classifier. */
public final class Bert extends PostNormFamily {

    public Bert() {
        super("bert", "bert.");
    }

    @Override
    protected ClassifierNames classifierNames() {
        return new ClassifierNames("pooler.dense", true, "classifier");
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.TANH;
    }
}
