package io.attributionatlas.model.family;

import io.attributionatlas.model.Activation;
import io.attributionatlas.model.EncoderFamily;
import io.attributionatlas.model.ModelConfig;

/**
 * RoBERTa: BERT's layers; position ids from pad_token_id + 1 over the real tokens (so the maximum length is the
 * position table less that offset); BPE special tokens; head dense → tanh → out_proj on {@code <s>}.
 */
public class Roberta extends PostNormFamily {

    public Roberta() {
        this("roberta");
    }

    /** A family with RoBERTa's architecture under another model_type (XLM-R). */
    protected Roberta(String modelType) {
        super(modelType, "roberta.");
    }

    @Override
    public boolean positionsFromPadding() {
        return true;
    }

    @Override
    public EncoderFamily.SpecialTokenNames specialTokenNames() {
        return SpecialTokenNames.BPE;
    }

    @Override
    protected ClassifierNames classifierNames() {
        return ClassifierNames.DENSE_OUT_PROJ;
    }

    @Override
    public Activation classifierActivation(ModelConfig config) {
        return Activation.TANH;
    }
}
