package io.attributionatlas.attribution;

import ai.djl.Device;
import io.attributionatlas.attribution.sweep.ConductanceRule;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Explains one long text (args: model directory, sentences file, memory_mb) after a warm-up, and prints how
 * far the process's resident memory peaked above where it stood: {@code GROWN_MB=N} on the last line. Run
 * with a pre-touched fixed heap, so that the growth is native memory: the engine's activations.
 */
public final class EngineMemoryMain {

    private EngineMemoryMain() {
    }

    public static void main(String[] args) throws Exception {
        List<String> sentences = Files.readAllLines(Path.of(args[1])).stream().skip(1).toList();
        // Trapezoid (one carried point): the budget the growth bound of MemoryBudgetTest was measured with.
        AttributionOptions options = AttributionOptions.defaults().nSteps(4).memoryMb(Integer.parseInt(args[2]))
                .conductance(ConductanceRule.TRAPEZOID);
        try (Predictor p = Predictor.open(Path.of(args[0]), null, Device.cpu());
                Explainer e = new Explainer(p, options)) {
            Sample sample = e.sample(new TextInput("long", String.join(" ", sentences.subList(0, 40)), null), null);
            e.attribute(List.of(e.sample(new TextInput("warm", sentences.get(0), null), null)));
            Files.writeString(Path.of("/proc/self/clear_refs"), "5");
            long before = Fixtures.procStatusMb("VmRSS:");
            SampleAttribution result = e.attribute(List.of(sample)).get(0);
            long grown = Fixtures.procStatusMb("VmHWM:") - before;
            System.out.println("TOKENS=" + result.sample().length() + " CHUNK_ROWS=" + e.chunkRows(512));
            System.out.println("GROWN_MB=" + grown);
        }
    }
}
