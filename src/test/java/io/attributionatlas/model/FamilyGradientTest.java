package io.attributionatlas.model;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Finite-difference checks of the gradients at every exposed site (embedding output, every layer output, every
 * attention tensor, every head gate) on the families' models saved by transformers (../shared/golden/hf and hf-next),
 * as TinyModelTest does for the seeded tiny models: a padded batch of a single text and a text pair.
 */
class FamilyGradientTest {

    @ParameterizedTest
    @ValueSource(strings = {"hf/roberta-cls", "hf/roberta-qa", "hf/xlm-roberta-cls", "hf/albert-cls",
        "hf/deberta-v2-cls", "hf/deberta-v2-qa", "hf/modernbert-cls", "hf-next/mpnet-cls", "hf-next/mpnet-qa"})
    void gradientsAtEveryInternalMatchFiniteDifferences(String name) {
        try (Predictor p = Predictor.open(Fixtures.shared().resolve("golden/" + name), null, Device.cpu())) {
            List<EncodedText> texts = List.of(p.encode(new TextInput("a", "a gripping, funny and moving film", null)),
                    p.encode(new TextInput("b", "Who directed the film?", "A young woman from Lyon directed it.")),
                    p.encode(new TextInput("c", "dull", null)));
            FiniteDifferences.checkEveryInternal(p.model(), EncodedBatch.ofTexts(texts, p.padId()));
        }
    }
}
