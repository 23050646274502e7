package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ModelConfig;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.nio.file.Files;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Chunks sized by memory, not by rows: the documented formula, the up-front error, and a 512-token row. */
class MemoryBudgetTest {

    /**
     * all-MiniLM (L = 6, H = 12, d = e = 384, I = 1536), default budget 2048 MB, 64 rows at most, 50 steps
     * (52 rows per item), trapezoid conductance (1 carried point), on the CPU, README "Memory":
     * row bytes = 4·(6·(4·12·S² + S·(8·384 + 3·1536)) + 12·384·S); item bytes = 4·6·3·(12·S² + 384·S) + 4·6·12·S²
 * (the per-head reductions' temporaries).
     */
    @Test
    void chunkRowsFollowTheDocumentedFormula() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
            ModelConfig c = p.model().config();
            assertEquals(4L * (6 * (4 * 12 * 128L * 128 + 128L * (8 * 384 + 3 * 1536)) + 12 * 384 * 128L),
                    MemoryBudget.sweepRowBytes(c, 128));
            assertEquals(4L * 6 * 3 * (12 * 512L * 512 + 384 * 512L) + 4L * 6 * 12 * 512 * 512,
                    MemoryBudget.sweepItemBytes(c, 512, 1, true, true));
            Explainer explainer = new Explainer(p, AttributionOptions.defaults());
            // 16 tokens: 3.4 MB a row, the 64-row cap binds. 128: 42.75 MB a row would allow 47, but on a CPU
            // [rows, 12, 128, 128] stays within 32 MB: 42. 512: 387 MB a row + items of 301.5 MB would allow 3;
            // the largest tensor allows 2.
            assertEquals(64, explainer.chunkRows(16));
            assertEquals(42, explainer.chunkRows(128));
            assertEquals(2, explainer.chunkRows(512));
            // With 1400 MB: 31 rows at 128; at 512 two rows and two items fit (1377 MB) with trapezoid's
            // one carried point, not with quadratic's two (items of 454.5 MB).
            Explainer small = new Explainer(p, AttributionOptions.defaults().memoryMb(1400)
                    .conductance(ConductanceRule.TRAPEZOID));
            assertEquals(31, small.chunkRows(128));
            assertEquals(2, small.chunkRows(512));
            Explainer quadratic = new Explainer(p, AttributionOptions.defaults().memoryMb(1400));
            assertEquals(ConductanceRule.QUADRATIC, quadratic.options().conductance(), "the default rule");
            assertEquals(1, quadratic.chunkRows(512));
            Explainer forwardOnly = new Explainer(p, AttributionOptions.defaults().analyses(Analysis.forwardOnly()));
            assertEquals(42, forwardOnly.chunkRows(128));
            assertEquals(2, forwardOnly.chunkRows(512));
        }
    }

    @Test
    void aBudgetThatCannotHoldOneRowAtTheMaximumLengthFailsBeforeAnyWork() throws Exception {
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> new Explainer(p, AttributionOptions.defaults().memoryMb(256)));
            assertTrue(e.getMessage().contains("512 tokens") && e.getMessage().contains("the budget is 256 MB")
                    && e.getMessage().contains("engine.memory_mb"), e.getMessage());
        }
    }

    /** One 512-token row: chunking (1 or 2 rows a pass, carried points across passes) changes nothing. */
    @Test
    void aRowAtTheMaximumLengthGivesTheSameResultsWhateverTheChunking() throws Exception {
        List<String> sentences = Files.readAllLines(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"))
                .stream().skip(1).toList();
        try (Predictor p = Predictor.open(Fixtures.realModel(), null, Device.cpu());
                Explainer one = new Explainer(p, AttributionOptions.defaults().nSteps(4).memoryMb(768)
                        .conductance(ConductanceRule.TRAPEZOID));
                Explainer two = new Explainer(p, AttributionOptions.defaults().nSteps(4)
                        .conductance(ConductanceRule.TRAPEZOID))) {
            Sample sample = one.sample(new TextInput("long", String.join(" ", sentences.subList(0, 40)), null), null);
            EncodedText e = sample.encoding();
            assertEquals(512, e.length());
            assertTrue(e.truncated());
            assertEquals(1, one.chunkRows(512));
            assertEquals(2, two.chunkRows(512), "chunks of two of the sample's 6 rows (4 steps + 2 ends)");
            TargetAttribution a = one.attribute(List.of(sample)).get(0).targets().get(0);
            TargetAttribution b = two.attribute(List.of(sample)).get(0).targets().get(0);
            for (int i = 0; i < 512; i++) {
                assertEquals(b.igTokenSum()[i], a.igTokenSum()[i], 1e-5, "IG " + i);
                for (int l = 0; l < 6; l++) {
                    assertEquals(b.layerTokenSum()[l][i], a.layerTokenSum()[l][i], 1e-5, "conductance " + l);
                }
            }
            for (int l = 0; l < 6; l++) {
                for (int h = 0; h < 12; h += 5) {
                    for (int i = 0; i < 512; i += 37) {
                        for (int j = 0; j < 512; j += 11) {
                            assertEquals(b.attentionConductance()[l][h][i][j], a.attentionConductance()[l][h][i][j],
                                    1e-6, "attention conductance");
                        }
                    }
                }
            }
            assertEquals(b.fInput() - b.fBaseline(), a.fInput() - a.fBaseline(), 1e-5);
        }
    }

    /**
     * One 512-token row explained in a JVM whose 1 GB heap is committed and touched up front: its resident peak
     * grows by native memory only. The pass and the item's state are estimated at 617 MB (under memory_mb =
     * 768); glibc keeps freed blocks for reuse, so the resident growth is bounded by twice the budget plus
     * 256 MB of host copies and slack (measured: 1.07–1.49 GB; 0.58 GB with MALLOC_TRIM_THRESHOLD_=0, which is
     * 5× slower). Without the budget (64-row chunks) the same row needed over 15 GB.
     */
    @Test
    void aRowAtTheMaximumLengthIsExplainedWithinTheBudget() throws Exception {
        int budget = 768;
        Fixtures.Forked run = Fixtures.fork(List.of("-Xms1g", "-Xmx1g", "-XX:+AlwaysPreTouch"), EngineMemoryMain.class,
                List.of(Fixtures.realModel().toString(), Fixtures.shared().resolve(
                        "data/sst2-binary/dev_binary_sent.csv").toString(), Integer.toString(budget)), 5);
        String log = run.output();
        assertEquals(0, run.status(), log);
        assertTrue(log.contains("TOKENS=512 CHUNK_ROWS=1"), log);
        long grown = Long.parseLong(log.substring(log.lastIndexOf("GROWN_MB=") + 9).trim());
        System.out.println("one 512-token row, memory_mb " + budget + ": native peak grew by " + grown + " MB");
        assertTrue(grown < 2 * budget + 256, "native peak grew by " + grown + " MB, budget " + budget + " MB");
    }
}
