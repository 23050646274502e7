package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.model.DeviceChoice;
import io.attributionatlas.model.GoldenForwardTest;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.TextInput;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * On a GPU (tag {@value #TAG}; skipped where PyTorch sees none, as on CI): the forward pass equals
 * ../shared/golden, and integrated gradients, every layer's conductance, every attention tensor's conductance and
 * the forward analyses equal the CPU's within 1e-5 (relative L2), on the real model and on every golden model.
 */
@Tag(GpuEqualsCpuTest.TAG)
public class GpuEqualsCpuTest {

    public static final String TAG = "gpu";
    static final double RELATIVE = 1e-5;

    @BeforeAll
    static void needsAGpu() {
        assumeTrue(DeviceChoice.visibleGpus() > 0, "no GPU visible to PyTorch");
    }

    static Stream<String> goldenModels() {
        return GoldenForwardTest.NAMES.stream();
    }

    @ParameterizedTest
    @MethodSource("goldenModels")
    void forwardMatchesTheGoldensOnTheGpu(String name) throws Exception {
        GoldenForwardTest.matchesGolden(name, Device.gpu());
    }

    @Test
    void realModelAttributionsOnTheGpuEqualTheCpus() throws Exception {
        List<String> lines = Files.readAllLines(Fixtures.shared().resolve("data/sst2-binary/dev_binary_sent.csv"));
        List<TextInput> texts = new ArrayList<>();
        for (String line : lines.subList(1, 25)) {
            texts.add(new TextInput("s" + texts.size(), line.substring(0, line.lastIndexOf(',')).replace("\"", ""),
                    null));
        }
        compareDevices(Fixtures.realModel(), texts);
    }

    static Stream<Path> modelDirectories() throws Exception {
        List<Path> dirs = new ArrayList<>();
        for (String name : GoldenForwardTest.NAMES) {
            Path dir = Fixtures.golden(name);
            if (Files.exists(dir.resolve("config.json"))) {
                dirs.add(dir);
            }
        }
        try (Stream<Path> hf = Files.list(Fixtures.golden("hf"))) {
            hf.filter(d -> Files.exists(d.resolve("config.json"))).sorted().forEach(dirs::add);
        }
        return dirs.stream();
    }

    @ParameterizedTest
    @MethodSource("modelDirectories")
    void everyFamilysAttributionsOnTheGpuEqualTheCpus(Path model) throws Exception {
        compareDevices(model, List.of(new TextInput("a", "the movie was good", "who was good ?"),
                new TextInput("b", "a bad plot , bad acting and a very long story", "what was bad ?"),
                new TextInput("c", "who won the game", "the team won")));
    }

    /** Every analysis of {@code texts} on the CPU and on the GPU, compared tensor by tensor. */
    static void compareDevices(Path model, List<TextInput> texts) {
        AttributionOptions options = AttributionOptions.defaults().analyses(Analysis.all());
        List<SampleAttribution> cpu = explain(model, Device.cpu(), options, texts);
        List<SampleAttribution> gpu = explain(model, Device.gpu(), options, texts);
        for (int s = 0; s < texts.size(); s++) {
            SampleAttribution a = cpu.get(s);
            SampleAttribution b = gpu.get(s);
            String where = model.getFileName() + " sample " + s;
            close(a.attentions(), b.attentions(), where + " attention");
            close(a.normAlphaFx(), b.normAlphaFx(), where + " ‖αf‖");
            close(a.normSumAlphaFx(), b.normSumAlphaFx(), where + " ‖Σαf‖");
            close(a.rollout(), b.rollout(), where + " rollout");
            a.headMetrics().forEach((name, v) -> close(v, b.headMetrics().get(name), where + " " + name));
            assertEquals(a.targets().size(), b.targets().size(), where + " targets");
            for (int t = 0; t < a.targets().size(); t++) {
                TargetAttribution x = a.targets().get(t);
                TargetAttribution y = b.targets().get(t);
                assertEquals(x.index(), y.index(), where + " the same target");
                close(x.igTokenSum(), y.igTokenSum(), where + " integrated gradients");
                close(x.layerTokenSum(), y.layerTokenSum(), where + " every layer's conductance");
                close(x.attentionConductance(), y.attentionConductance(), where + " attention conductance");
                close(x.gradXInput(), y.gradXInput(), where + " gradient x input");
                close(x.headImportance(), y.headImportance(), where + " head importance");
                x.headConductance().categories().forEach((name, v) -> close(v, y.headConductance().categories()
                        .get(name), where + " " + name));
                close(x.headConductance().moments(), y.headConductance().moments(), where + " attention vs conductance");
                close(x.headConductance().pairValues(), y.headConductance().pairValues(), where + " top pairs");
            }
        }
    }

    static List<SampleAttribution> explain(Path model, Device device, AttributionOptions options,
            List<TextInput> texts) {
        try (Predictor p = Predictor.open(model, null, device); Explainer e = new Explainer(p, options)) {
            boolean pairs = p.model().config().task() == io.attributionatlas.model.Task.QUESTION_ANSWERING;
            return e.attribute(texts.stream().map(t -> e.sample(pairs ? t : new TextInput(t.id(), t.text(), null),
                    null)).toList());
        }
    }

    /** ‖a − b‖ ≤ 1e-5 ‖a‖ (+ 1e-7 for tensors near zero), over all values of nested float arrays. */
    static void close(Object a, Object b, String what) {
        double[] sums = new double[2];
        accumulate(a, b, sums, what);
        double diff = Math.sqrt(sums[0]);
        double norm = Math.sqrt(sums[1]);
        assertTrue(diff <= RELATIVE * norm + 1e-7, what + ": ‖gpu − cpu‖ = " + diff + ", ‖cpu‖ = " + norm);
    }

    private static void accumulate(Object a, Object b, double[] sums, String what) {
        if (a == null || b == null) {
            assertEquals(a == null, b == null, what + " computed on both");
            return;
        }
        if (a instanceof float[] x) {
            float[] y = (float[]) b;
            assertEquals(x.length, y.length, what + " length");
            for (int i = 0; i < x.length; i++) {
                sums[0] += (double) (x[i] - y[i]) * (x[i] - y[i]);
                sums[1] += (double) x[i] * x[i];
            }
            return;
        }
        Object[] x = (Object[]) a;
        Object[] y = (Object[]) b;
        assertEquals(x.length, y.length, what + " length");
        for (int i = 0; i < x.length; i++) {
            accumulate(x[i], y[i], sums, what);
        }
    }
}
