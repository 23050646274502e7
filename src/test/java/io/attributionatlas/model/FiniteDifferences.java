package io.attributionatlas.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.DataType;
import io.attributionatlas.model.ForwardOptions.Site;

import java.util.function.Function;

/**
 * Checks the gradients a backward pass leaves on the tap leaves against central finite differences of
 * the forward pass, along random directions, at the embedding output, every layer output, every
 * attention-probability tensor and every head gate.
 */
final class FiniteDifferences {

    private static final float EPSILON = 1e-3f;

    private FiniteDifferences() {
    }

    /** A scalar objective over the batch: a sum of per-row outputs, as attribution targets are. */
    static NDArray objective(TransformerModel model, ForwardResult r) {
        return switch (model.config().task()) {
            case SEQUENCE_CLASSIFICATION -> r.logits().get(":, 1").sum();
            case QUESTION_ANSWERING -> r.startLogits().get(":, 2").sum().add(r.endLogits().get(":, 3").sum());
            case ENCODER -> r.lastHiddenState().get(":, 1, 0").sum();
        };
    }

    static void checkEveryInternal(TransformerModel model, EncodedBatch batch) {
        try (NDManager scope = model.manager().newSubManager()) {
            ForwardResult r = model.forwardAndBackward(batch, ForwardOptions.all(), scope, x -> objective(model, x));
            int layers = model.config().numLayers();
            assertEquals(layers, r.layerTaps().size());
            assertEquals(layers, r.attentionTaps().size());
            assertEquals(layers, r.headGates().size());
            long seed = 7;
            check(model, batch, Site.EMBEDDING, 0, r.embeddingTap(), seed++, scope);
            for (int l = 0; l < layers; l++) {
                check(model, batch, Site.LAYER_OUTPUT, l, r.layerTaps().get(l), seed++, scope);
                check(model, batch, Site.ATTENTION, l, r.attentionTaps().get(l), seed++, scope);
                check(model, batch, Site.HEAD_GATE, l, r.headGates().get(l), seed++, scope);
            }
        }
    }

    private static void check(TransformerModel model, EncodedBatch batch, Site site, int layer, NDArray leaf,
            long seed, NDManager scope) {
        NDArray gradient = leaf.getGradient();
        scope.getEngine().setRandomSeed((int) seed);
        NDArray direction = scope.randomNormal(leaf.getShape(), DataType.FLOAT32);
        double analytic = gradient.mul(direction).sum().getFloat();
        Function<Float, Double> f = step -> {
            ForwardOptions o = ForwardOptions.predictOnly().perturb(site, layer, direction.mul(step));
            return (double) objective(model, model.forward(batch, o, scope)).getFloat();
        };
        double numeric = (f.apply(EPSILON) - f.apply(-EPSILON)) / (2 * EPSILON);
        double tolerance = 2e-2 * Math.max(Math.abs(analytic), Math.abs(numeric)) + 5e-3;
        assertTrue(Math.abs(analytic - numeric) <= tolerance, site + " layer " + layer + ": gradient·d = " + analytic
                + ", finite difference = " + numeric);
        assertTrue(gradient.abs().sum().getFloat() > 0, site + " layer " + layer + ": gradient is not all zero");
    }

}
