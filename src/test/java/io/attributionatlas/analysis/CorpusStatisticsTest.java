package io.attributionatlas.analysis;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Corpus statistics merge exactly: two halves merged equal one pass over the whole. */
class CorpusStatisticsTest {

    static final List<String> TEXTS = List.of("the movie was very good .", "bad plot , bad acting", "a good game !",
            "not very good", "the team won the game .", "the plot was not bad , the acting was", "very very good",
            "who won ?");

    @TempDir
    Path tmp;

    @Test
    void halvesMergedEqualTheWhole() throws Exception {
        Path dir = TinyModels.write(tmp.resolve("m"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.SEQUENCE_CLASSIFICATION).withWeightScale(0.15));
        try (Predictor p = Predictor.open(dir, null, Device.cpu());
                Explainer e = new Explainer(p, AttributionOptions.defaults().nSteps(8).headSimilarityRate(1).methods(
                        io.attributionatlas.attribution.AttributionMethods.parseList("integrated_gradients,occlusion,lime")))) {
            List<SampleAttribution> all = e.attribute(TEXTS.stream().map(t -> e.sample(TextInput.of(t), null)).toList());
            CorpusStatistics whole = new CorpusStatistics(TinyModels.LAYERS, TinyModels.HEADS);
            CorpusStatistics first = new CorpusStatistics(TinyModels.LAYERS, TinyModels.HEADS);
            CorpusStatistics second = new CorpusStatistics(TinyModels.LAYERS, TinyModels.HEADS);
            for (int i = 0; i < all.size(); i++) {
                whole.add(all.get(i));
                (i % 2 == 0 ? first : second).add(all.get(i));
            }
            CorpusStatistics merged = first.merge(second);
            assertEquals(whole.samples(), merged.samples());
            assertEquals(whole.headStats().keySet(), merged.headStats().keySet());
            assertTrue(whole.headStats().containsKey("attn_sep") && whole.headStats().containsKey("cond_abs_cls")
                    && whole.headStats().containsKey("norm_self") && whole.headStats().containsKey("head_importance"));
            for (Map.Entry<String, Moments[]> m : whole.headStats().entrySet()) {
                for (int i = 0; i < m.getValue().length; i++) {
                    Moments a = m.getValue()[i];
                    Moments b = merged.headStats().get(m.getKey())[i];
                    assertEquals(a.count(), b.count());
                    close(a.mean(), b.mean(), m.getKey());
                    close(a.std(), b.std(), m.getKey());
                    assertEquals(a.min(), b.min());
                    assertEquals(a.max(), b.max());
                }
            }
            assertEquals(whole.agreement().keySet(), merged.agreement().keySet());
            for (List<String> pair : List.of(List.of("integrated_gradients", "occlusion"),
                    List.of("integrated_gradients", "lime"), List.of("occlusion", "lime"))) {
                assertTrue(whole.agreement().keySet().stream().anyMatch(k -> k.methodA().equals(pair.get(0))
                        && k.methodB().equals(pair.get(1)) && k.unit().equals("word_piece")
                        && k.metric().equals("spearman")), pair + " " + whole.agreement().keySet());
            }
            whole.agreement().forEach((k, v) -> {
                assertEquals(v.count(), merged.agreement().get(k).count(), k.toString());
                close(v.mean(), merged.agreement().get(k).mean(), k.toString());
                assertArrayEquals(whole.agreementHistogram(k), merged.agreementHistogram(k), k.toString());
            });
            assertTrue(whole.tokenImportance().keySet().stream().anyMatch(k -> k.method().equals("lime")
                    && k.unit().equals("word")),
                    "word-level rows per method");
            assertEquals(whole.tokenImportance().keySet(), merged.tokenImportance().keySet());
            whole.tokenImportance().forEach((k, v) -> {
                for (int i = 0; i < 3; i++) {
                    close(v[i], merged.tokenImportance().get(k)[i], k.toString());
                }
            });
            for (int a = 0; a < TinyModels.LAYERS; a++) {
                for (int b = 0; b < TinyModels.LAYERS; b++) {
                    close(whole.layerCorrelation(a, b).pooled(), merged.layerCorrelation(a, b).pooled(), "pooled");
                    close(whole.layerCorrelation(a, b).sampleMean(), merged.layerCorrelation(a, b).sampleMean(), "z");
                }
                for (int h = 0; h < TinyModels.HEADS; h++) {
                    close(whole.attentionVsConductance(a, h).pooled(), merged.attentionVsConductance(a, h).pooled(),
                            "attention vs conductance");
                    List<HeadRelations.Relation> rw = whole.topRelations(a, h, Integer.MAX_VALUE);
                    List<HeadRelations.Relation> rm = merged.topRelations(a, h, Integer.MAX_VALUE);
                    assertEquals(rw.size(), rm.size());
                    for (int r = 0; r < rw.size(); r++) {
                        assertEquals(List.of(rw.get(r).source(), rw.get(r).target(), rw.get(r).kind()),
                                List.of(rm.get(r).source(), rm.get(r).target(), rm.get(r).kind()), "relation " + r);
                        assertEquals(rw.get(r).count(), rm.get(r).count());
                        close(rw.get(r).sum(), rm.get(r).sum(), "relation " + r);
                    }
                }
            }
            int heads = TinyModels.LAYERS * TinyModels.HEADS;
            for (int x = 0; x < heads; x++) {
                for (int y = 0; y < heads; y++) {
                    close(whole.meanJsDistance(x, y), merged.meanJsDistance(x, y), "js");
                }
            }
            // Sanity: a layer correlates perfectly with itself; JS distance is symmetric, 0 on the diagonal.
            assertEquals(1.0, whole.layerCorrelation(1, 1).pooled(), 1e-9);
            assertEquals(whole.meanJsDistance(1, 5), whole.meanJsDistance(5, 1));
            assertEquals(0, whole.meanJsDistance(3, 3));
        }
    }

    /** Equal within 1e-9 relative (or absolute near 0); NaN equals NaN. */
    static void close(double a, double b, String what) {
        if (Double.isNaN(a) || Double.isNaN(b)) {
            assertEquals(Double.isNaN(a), Double.isNaN(b), what);
            return;
        }
        assertEquals(a, b, 1e-9 * Math.max(1, Math.abs(a)), what);
    }

    @Test
    void punctuationIsReadAsEachTokenizerWritesIt() {
        for (String t : List.of(".", ",", "\u0120.", "\u2581,")) {
            assertTrue(io.attributionatlas.model.EncoderFamilies.of("bert").isPunctuation(t), t);
        }
        for (String t : List.of("a", "..", "\u0120", "##.", "<s>")) {
            assertTrue(!io.attributionatlas.model.EncoderFamilies.of("bert").isPunctuation(t), t);
        }
    }

    @Test
    void jsDistanceAndCorrelationsHaveTheirTextbookValues() {
        assertEquals(0, HeadSimilarityReference.jsDistance(new float[] {0.5f, 0.5f}, new float[] {0.5f, 0.5f}), 1e-12);
        assertEquals(1, HeadSimilarityReference.jsDistance(new float[] {1, 0}, new float[] {0, 1}), 1e-9);
        assertEquals(-1, Correlation.of(new float[] {1, 2, 3}, new float[] {3, 2, 1}), 1e-12);
        Moments m = new Moments();
        for (double v : new double[] {1, 2, 3, 4}) {
            m.add(v);
        }
        assertEquals(2.5, m.mean(), 1e-12);
        assertEquals(Math.sqrt(5.0 / 3), m.std(), 1e-12);
    }
}
