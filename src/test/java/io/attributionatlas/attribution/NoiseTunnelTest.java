package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;

import ai.djl.Device;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import io.attributionatlas.model.EncoderFamilies;
import io.attributionatlas.model.EncodedBatch;
import io.attributionatlas.model.EncodedText;
import io.attributionatlas.model.ForwardOptions;
import io.attributionatlas.model.ForwardResult;
import io.attributionatlas.model.Predictor;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TextInput;
import io.attributionatlas.model.TinyModels;
import io.attributionatlas.model.TransformerModel;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NoiseTunnel as Captum's {@code NoiseTunnel} defines it, around saliency, input × gradient and integrated gradients:
 * without noise it is the wrapped method (and vargrad is 0); with noise its three aggregations equal a reference
 * that draws the same noise and aggregates each element's attributions in double; and smoothgrad of integrated
 * gradients keeps completeness: its scores add up to the mean of F(x + ε) − F(x′) over the noisy copies.
 */
class NoiseTunnelTest {

    @TempDir
    static Path tmp;
    static Path model;
    static final List<TextInput> TEXTS = List.of(TextInput.of("the movie was very good ."),
            TextInput.of("bad plot , bad acting"));

    @BeforeAll
    static void writeModel() throws Exception {
        model = TinyModels.write(tmp.resolve("tiny"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.SEQUENCE_CLASSIFICATION));
    }

    static AttributionOptions options(String wrapped, String type, double stdev) {
        return AttributionOptions.defaults().nSteps(16).analyses(Set.of(Analysis.INTEGRATED_GRADIENTS,
                Analysis.GRAD_X_INPUT)).methods("noise_tunnel,saliency,input_x_gradient,integrated_gradients")
                .set("nt_method", wrapped).set("nt_type", type)
                .set("nt_stdev", Double.toString(stdev)).samples(4).seed(3);
    }

    static List<SampleAttribution> explain(AttributionOptions options) {
        try (Predictor p = Predictor.open(model, null, Device.cpu()); Explainer e = new Explainer(p, options)) {
            return e.attribute(TEXTS.stream().map(t -> e.sample(t, null)).toList());
        }
    }

    static void close(float[] expected, float[] actual, double relative, String where) {
        double scale = 0;
        for (float v : expected) {
            scale = Math.max(scale, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], relative * scale + 1e-7, where + " [" + i + "]");
        }
    }

    @Test
    void withoutNoiseItIsTheWrappedMethod() {
        for (String wrapped : List.of("saliency", "input_x_gradient", "integrated_gradients")) {
            for (SampleAttribution s : explain(options(wrapped, "smoothgrad", 0))) {
                TargetAttribution t = s.targets().get(0);
                close(t.methods().get(wrapped).tokenAttributions(),
                        t.methods().get("noise_tunnel").tokenAttributions(), 1e-4, wrapped);
            }
            for (SampleAttribution s : explain(options(wrapped, "vargrad", 0))) {
                for (float v : s.targets().get(0).methods().get("noise_tunnel").tokenAttributions()) {
                    assertEquals(0, v, 1e-9, wrapped + ": no noise, no variance");
                }
            }
        }
    }

    /** Each aggregation of saliency and input × gradient against a reference drawing the same noise. */
    @Test
    void withNoiseEachAggregationIsCaptums() {
        double stdev = 0.3;
        for (String wrapped : List.of("saliency", "input_x_gradient")) {
            for (String type : List.of("smoothgrad", "smoothgrad_sq", "vargrad")) {
                AttributionOptions options = options(wrapped, type, stdev);
                List<SampleAttribution> results = explain(options);
                try (Predictor p = Predictor.open(model, null, Device.cpu())) {
                    for (SampleAttribution s : results) {
                        TargetAttribution t = s.targets().get(0);
                        float[] expected = reference(p.model(), p.padId(), s.sample().encoding(), t.index(), wrapped,
                                type, 4, stdev, PerturbationBatch.seed(options, s.sample().encoding()));
                        close(expected, t.methods().get("noise_tunnel").tokenAttributions(), 1e-5,
                                wrapped + " " + type);
                    }
                }
            }
        }
    }

    /** Captum's loop, element by element in double: one forward and backward per noisy copy. */
    static float[] reference(TransformerModel model, long padId, EncodedText text, int target, String wrapped,
            String type, int samples, double stdev, long seed) {
        int n = text.length();
        Random random = new Random(seed);
        try (NDManager m = model.manager().newSubManager()) {
            NDArray input = model.embed(m.create(text.ids(), new Shape(1, n)), m.create(text.typeIds(),
                    new Shape(1, n)), m);
            int width = (int) input.getShape().get(2);
            double[][] sum = new double[n][width];
            double[][] squares = new double[n][width];
            float[] x = input.toFloatArray();
            for (int k = 0; k < samples; k++) {
                float[] noise = new float[n * width];
                for (int i = 0; i < noise.length; i++) {
                    noise[i] = (float) (random.nextGaussian() * stdev);
                }
                NDArray noisy = input.add(m.create(noise, new Shape(1, n, width)));
                ForwardResult r = model.forwardAndBackward(EncodedBatch.pad(List.of(text.ids()),
                        List.of(text.typeIds()), padId), ForwardOptions.predictOnly().startFrom(noisy).tapEmbedding(),
                        m, res -> res.logits().get(":, " + target).sum());
                float[] g = r.embeddingTap().getGradient().toFloatArray();
                for (int i = 0; i < n; i++) {
                    for (int h = 0; h < width; h++) {
                        int at = i * width + h;
                        double a = wrapped.equals("saliency") ? Math.abs(g[at]) : g[at] * (double) (x[at] + noise[at]);
                        sum[i][h] += a;
                        squares[i][h] += a * a;
                    }
                }
            }
            float[] out = new float[n];
            for (int i = 0; i < n; i++) {
                double total = 0;
                for (int h = 0; h < width; h++) {
                    double mean = sum[i][h] / samples;
                    double meanSquare = squares[i][h] / samples;
                    total += switch (type) {
                        case "smoothgrad" -> mean;
                        case "smoothgrad_sq" -> meanSquare;
                        case "vargrad" -> meanSquare - mean * mean;
                        default -> throw new IllegalArgumentException(type);
                    };
                }
                out[i] = (float) total;
            }
            return out;
        }
    }

    /** Smoothgrad of IG: Σ scores = mean over the noisy copies of F(x + ε) − F(x′) (completeness, copy by copy). */
    @Test
    void smoothgradOfIntegratedGradientsKeepsCompleteness() {
        double stdev = 0.3;
        AttributionOptions options = options("integrated_gradients", "smoothgrad", stdev).nSteps(50);
        List<SampleAttribution> results = explain(options);
        try (Predictor p = Predictor.open(model, null, Device.cpu())) {
            TransformerModel m = p.model();
            for (SampleAttribution s : results) {
                TargetAttribution t = s.targets().get(0);
                EncodedText text = s.sample().encoding();
                int n = text.length();
                Random random = new Random(PerturbationBatch.seed(options, text));
                double meanF = 0;
                try (NDManager scope = m.manager().newSubManager()) {
                    NDArray input = m.embed(scope.create(text.ids(), new Shape(1, n)), scope.create(text.typeIds(),
                            new Shape(1, n)), scope);
                    int width = (int) input.getShape().get(2);
                    for (int k = 0; k < 4; k++) {
                        float[] noise = new float[n * width];
                        for (int i = 0; i < noise.length; i++) {
                            noise[i] = (float) (random.nextGaussian() * stdev);
                        }
                        ForwardResult r = m.forward(EncodedBatch.pad(List.of(text.ids()), List.of(text.typeIds()),
                                p.padId()), ForwardOptions.predictOnly().startFrom(input.add(scope.create(noise,
                                new Shape(1, n, width)))), scope);
                        meanF += r.logits().getFloat(0, t.index()) / 4.0;
                    }
                }
                double sum = 0;
                for (float v : t.methods().get("noise_tunnel").tokenAttributions()) {
                    sum += v;
                }
                double change = meanF - t.fBaseline();
                assertEquals(change, sum, 2e-3 * Math.abs(change) + 1e-4, "completeness under noise");
            }
        }
    }
}
