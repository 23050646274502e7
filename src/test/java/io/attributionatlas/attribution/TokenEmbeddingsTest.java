package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Contextual embeddings gathered on the device from a padded batch equal each sample's own forward pass: the output
 * hidden states of the chosen layers at the chosen positions, and the key each head attends to most.
 */
class TokenEmbeddingsTest {

    @Test
    void gatheredRowsOfABatchEqualEachSampleAlone() {
        AttributionOptions options = AttributionOptions.defaults().analyses(Set.of(Analysis.ATTENTION))
                .embeddingLayers(1, -1);
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer e = new Explainer(p, options)) {
            List<TextInput> texts = List.of(new TextInput("a", "a gorgeous , witty , seductive movie .", null),
                    new TextInput("b", "bad", null),
                    new TextInput("c", "the story is too thin to carry a film of this length , and it shows", null),
                    new TextInput("d", "no positions asked", null));
            int[][] positions = {{0, 2, 5}, {1}, {0, 3, 4, 14}, {}};
            List<Sample> samples = new java.util.ArrayList<>();
            for (int i = 0; i < texts.size(); i++) {
                samples.add(e.sample(texts.get(i), null).withoutMatrices().withEmbeddingPositions(positions[i]));
            }
            List<SampleAttribution> out = e.attribute(samples);
            int layers = p.model().config().numLayers();
            assertNull(out.get(3).embeddings(), "no positions, no embeddings");
            for (int i = 0; i < 3; i++) {
                TokenEmbeddings got = out.get(i).embeddings();
                assertArrayEquals(new int[] {1, layers - 1}, got.layers());
                assertArrayEquals(positions[i], got.positions());
                try (NDManager scope = p.model().manager().newSubManager()) {
                    ForwardResult alone = p.model().forward(EncodedBatch.ofTexts(List.of(samples.get(i).encoding()),
                            p.padId()), ForwardOptions.predictOnly().keepHiddenStates().keepAttentions(), scope);
                    for (int l = 0; l < got.layers().length; l++) {
                        NDArray states = alone.hiddenStates().get(got.layers()[l]);
                        NDArray argmax = alone.attentions().get(got.layers()[l]).argMax(-1); // [1, H, S]
                        for (int k = 0; k < positions[i].length; k++) {
                            float[] expected = states.get(0, positions[i][k]).toFloatArray();
                            float[] actual = got.vectors()[l][k];
                            for (int d = 0; d < expected.length; d++) {
                                assertEquals(expected[d], actual[d], 1e-4, texts.get(i).id() + " layer "
                                        + got.layers()[l] + " position " + positions[i][k] + " [" + d + "]");
                            }
                            long[] keys = argmax.get(0).get(":, " + positions[i][k]).toLongArray();
                            for (int h = 0; h < keys.length; h++) {
                                assertEquals(keys[h], got.attended()[l][k][h], "attended key, head " + h);
                            }
                        }
                    }
                }
            }
        }
    }
}
