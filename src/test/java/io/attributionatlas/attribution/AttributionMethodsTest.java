package io.attributionatlas.attribution;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The method registry: every method once, options settable by key with errors naming it, outputs by name. */
class AttributionMethodsTest {

    @Test
    void everyMethodIsRegisteredOnceInOrder() {
        assertEquals(List.of("integrated_gradients", "saliency", "input_x_gradient", "gradient_shap", "occlusion",
                "word_ablation", "kernel_shap", "lime", "shapley_value_sampling", "noise_tunnel",
                "attention_attribution", "value_zeroing", "alti", "decompx"), AttributionMethods.all().stream().map(AttributionMethod::name).toList());
        for (AttributionMethod m : AttributionMethods.all()) {
            assertTrue(m.outputs().containsAll(AttributionMethod.TOKEN_AND_WORD_SCORES), m.name());
            assertTrue(!m.summary().isBlank(), m.name());
            assertEquals(m.passes() == AttributionMethod.Passes.PERTURBATION, m.replacesTokens(), m.name());
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> AttributionMethods.parseList("lime,shap"));
        assertTrue(e.getMessage().contains("unknown method 'shap'") && e.getMessage().contains("kernel_shap"),
                e.getMessage());
        assertEquals(2, AttributionMethods.parseList("lime, LIME ,occlusion").size());
    }

    @Test
    void everyOptionIsAKeyWithItsDefaultAndChecksItsValues() {
        Set<String> keys = new HashSet<>();
        for (MethodOption<?> o : AttributionMethods.options()) {
            assertTrue(keys.add(o.key()), "one owner per option key: " + o.key());
            assertTrue(AttributionOptions.KEYS.contains(o.key()), o.key());
            AttributionOptions defaults = AttributionOptions.defaults();
            assertEquals(o.defaultValue(), defaults.methodOption(o), o.key());
            assertEquals(o.defaultValue(), o.parse(o.defaultText()), o.key() + ": the default as atlas.conf writes it");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> defaults.set(o.key(), "-1x"));
            assertTrue(e.getMessage().startsWith(o.key() + ":"), e.getMessage());
        }
        assertEquals(3, (int) AttributionOptions.defaults().set("occlusion_window", "3")
                .methodOption(io.attributionatlas.attribution.method.Occlusion.WINDOW));
        assertEquals("vargrad", AttributionOptions.defaults().set("nt_type", "VarGrad")
                .methodOption(io.attributionatlas.attribution.method.NoiseTunnel.TYPE));
    }
}
