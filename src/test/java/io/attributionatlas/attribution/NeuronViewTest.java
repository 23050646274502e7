package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.Fixtures;
import io.attributionatlas.model.TextInput;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * BertViz's neuron view: the query and key vectors a dumped sample copies give back the model's attention. For every
 * layer, head and query token, softmax over keys of scale · q·k + the family's offset equals the attention within
 * 1e-5, in every family (relative positions, disentangled terms, rotary positions and a local window included), for
 * samples padded in a batch.
 */
class NeuronViewTest {

    static Stream<Path> models() throws Exception {
        List<Path> models = new ArrayList<>(HeadSimilarityTest.models().toList());
        models.add(Fixtures.shared().resolve("golden/hf-next/mpnet-cls"));
        models.add(Fixtures.shared().resolve("golden/hf-next/mpnet-qa"));
        return models.stream();
    }

    @ParameterizedTest
    @MethodSource("models")
    void queryKeyProductsScaledAndMaskedGiveTheAttention(Path model) throws Exception {
        List<TextInput> texts = new ArrayList<>(HeadSimilarityTest.texts(model));
        // past a local window of 8 tokens (ModernBERT's test model), so the window's mask is part of the offsets
        texts.add(new TextInput("window", "one two three four five six seven eight nine ten eleven twelve thirteen "
                + "fourteen fifteen sixteen", "count them"));
        List<SampleAttribution> explained = HeadSimilarityTest.explain(model,
                AttributionOptions.defaults().analyses(Set.of(Analysis.ATTENTION)), texts);
        for (SampleAttribution s : explained) {
            QueryKeyVectors qk = s.queryKeys();
            String where = model.getFileName() + " " + s.sample().input().id();
            assertNotNull(qk, where);
            int n = s.sample().length();
            float[][][][] attention = s.attentions();
            for (int l = 0; l < attention.length; l++) {
                for (int h = 0; h < attention[l].length; h++) {
                    assertEquals(n, qk.queries()[l][h].length, where);
                    for (int i = 0; i < n; i++) {
                        double[] scores = new double[n];
                        double max = Double.NEGATIVE_INFINITY;
                        for (int j = 0; j < n; j++) {
                            double dot = 0;
                            for (int d = 0; d < qk.queries()[l][h][i].length; d++) {
                                dot += (double) qk.queries()[l][h][i][d] * qk.keys()[l][h][j][d];
                            }
                            scores[j] = qk.scale() * dot + (qk.scoreOffsets()[l] == null ? 0
                                    : qk.scoreOffsets()[l][h][i][j]);
                            max = Math.max(max, scores[j]);
                        }
                        double sum = 0;
                        for (int j = 0; j < n; j++) {
                            scores[j] = Math.exp(scores[j] - max);
                            sum += scores[j];
                        }
                        for (int j = 0; j < n; j++) {
                            assertEquals(attention[l][h][i][j], scores[j] / sum, 1e-5,
                                    where + " L" + l + "-H" + h + " [" + i + ", " + j + "]");
                        }
                    }
                }
            }
        }
    }

    @Test
    void onlySamplesThatCopyTheirMatricesCopyTheirVectors() throws Exception {
        Path model = Fixtures.realModel();
        try (var p = io.attributionatlas.model.Predictor.open(model, null, ai.djl.Device.cpu());
                Explainer e = new Explainer(p, AttributionOptions.defaults().analyses(Set.of(Analysis.ATTENTION)))) {
            List<SampleAttribution> out = e.attribute(List.of(e.sample(new TextInput("kept", "a fine film", null),
                    null), e.sample(new TextInput("reduced", "a dull film", null), null).withoutMatrices()));
            assertNotNull(out.get(0).queryKeys());
            assertNull(out.get(1).queryKeys());
            assertNull(out.get(1).attentions());
            assertTrue(out.get(0).queryKeys().scale() > 0);
        }
    }
}
