package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.Device;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.attribution.TargetAttribution;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * engine.precision: parsing; fp16 computes in float16 (really: its results differ from fp32) and stays close to
 * fp32, with float32 path integrals; bf16 is refused by name where the JNI has no bfloat16 (DJL's own); tf32 is a
 * process setting fixed when PyTorch starts.
 */
class PrecisionTest {

    @TempDir
    Path tmp;

    @Test
    void parsesEveryModeAndRejectsOthersByName() {
        assertEquals(Precision.FP32, Precision.parse("fp32"));
        assertEquals(Precision.TF32, Precision.parse(" TF32 "));
        assertEquals(Precision.BF16, Precision.parse("bf16"));
        assertEquals(Precision.FP16, Precision.parse("fp16"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp8"));
        assertTrue(e.getMessage().contains("expected fp32, tf32, bf16 or fp16, got 'fp8'"), e.getMessage());
    }

    @Test
    void fp16StaysCloseToFp32AndItsPathIntegralsAreComplete() throws Exception {
        Path model = TinyModels.write(tmp.resolve("m"), TinyModels.Spec.of(EncoderFamilies.of("bert"),
                Task.SEQUENCE_CLASSIFICATION).withWeightScale(0.1));
        List<TextInput> texts = List.of(new TextInput("a", "the movie was very good .", null),
                new TextInput("b", "not a good plot", null));
        AttributionOptions options = AttributionOptions.defaults().analyses(EnumSet.of(Analysis.INTEGRATED_GRADIENTS,
                Analysis.LAYER_CONDUCTANCE, Analysis.ATTENTION_CONDUCTANCE, Analysis.ATTENTION));
        List<SampleAttribution> full;
        List<SampleAttribution> half;
        try (Predictor p = Predictor.open(model, null, Device.cpu());
                Explainer e = new Explainer(p, options)) {
            full = e.attribute(texts.stream().map(t -> e.sample(t, null)).toList());
        }
        try (Predictor p = Predictor.open(model, null, Device.cpu(), Precision.FP16);
                Explainer e = new Explainer(p, options)) {
            assertEquals(ai.djl.ndarray.types.DataType.FLOAT16, p.model().layerParameter(0,
                    ParameterLayout.LayerRole.QUERY_W).getDataType());
            half = e.attribute(texts.stream().map(t -> e.sample(t, null)).toList());
        }
        double largest = 0;
        for (int s = 0; s < texts.size(); s++) {
            float[] a = full.get(s).prediction().logits();
            float[] b = half.get(s).prediction().logits();
            for (int c = 0; c < a.length; c++) {
                assertEquals(a[c], b[c], 2e-2, "logits in float16");
                largest = Math.max(largest, Math.abs(a[c] - b[c]));
            }
            TargetAttribution t = half.get(s).targets().get(0);
            double change = t.fInput() - t.fBaseline();
            assertTrue(Math.abs(t.delta()) < 2e-2 * Math.abs(change) + 1e-3, "IG complete in fp16: " + t.delta());
            for (double layer : t.layerTotal()) {
                assertEquals(change, layer, 2e-2 * Math.abs(change) + 1e-3, "each layer's conductance, fp16");
            }
            float[][] attention = half.get(s).attentions()[0][0];
            for (float[] row : attention) {
                double sum = 0;
                for (float v : row) {
                    sum += v;
                }
                assertEquals(1, sum, 5e-3, "attention rows of a float16 softmax");
            }
        }
        assertTrue(largest > 1e-6, "fp16 really computed in float16 (logits differ from fp32 by " + largest + ")");
    }

    @Test
    void bf16IsRefusedByNameWhereTheJniHasNoBfloat16() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> TransformerModel.load(Fixtures.realModel(), null, Device.cpu(), Precision.BF16));
        assertTrue(e.getMessage().contains("precision bf16: the loaded DJL JNI (libdjl_torch.so) has no bfloat16")
                && e.getMessage().contains("scripts/gpu/build-bf16-jni"), e.getMessage());
    }

    @Test
    void tf32IsFixedWhenPyTorchStarts() throws Exception {
        OfflineEngine.ensure(); // PyTorch has started in this JVM, without TF32
        IllegalArgumentException late = assertThrows(IllegalArgumentException.class,
                () -> Precision.TF32.prepareProcess());
        assertTrue(late.getMessage().contains("precision tf32: PyTorch in this JVM computes float32 products in full "
                + "float32") && late.getMessage().contains("start the JVM with TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1"),
                late.getMessage());
        Precision.FP32.prepareProcess(); // what it runs is fine

        // Before PyTorch starts, tf32 sets the variable for it to read; fp32 is then refused in that JVM.
        Fixtures.Forked forked = Fixtures.fork(List.of("-Xmx512m"), Tf32ProcessMain.class,
                List.of(Fixtures.realModel().toString()), 3);
        assertEquals(0, forked.status(), forked.output());
        assertTrue(forked.output().contains("ENV=1"), forked.output());
        assertTrue(forked.output().contains("FP32 REFUSED: precision fp32: PyTorch in this JVM computes float32 "
                + "products in TF32"), forked.output());
    }

    /** Asks for tf32 before PyTorch starts, loads a model, prints the variable as libc has it and fp32's refusal. */
    public static final class Tf32ProcessMain {
        private Tf32ProcessMain() {
        }

        public static void main(String[] args) {
            Precision.TF32.prepareProcess();
            try (TransformerModel m = TransformerModel.load(Path.of(args[0]), null, Device.cpu(), Precision.TF32)) {
                System.out.println("LOADED " + m.precision().cliName());
            }
            com.sun.jna.Pointer value = com.sun.jna.NativeLibrary.getInstance("c").getFunction("getenv")
                    .invokePointer(new Object[] {Precision.TF32_VARIABLE});
            System.out.println("ENV=" + (value == null ? null : value.getString(0)));
            try {
                Precision.FP32.prepareProcess();
                System.out.println("FP32 ACCEPTED");
            } catch (IllegalArgumentException e) {
                System.out.println("FP32 REFUSED: " + e.getMessage());
            }
        }
    }
}
