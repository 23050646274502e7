package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;

/** Integrated gradients at the embedding output, summed over hidden: the shared sweep's, at no extra pass. */
public final class IntegratedGradients extends NamedMethod {

    public static final String NAME = "integrated_gradients";

    public IntegratedGradients() {
        super(NAME, "Integrated gradients at the embedding output, summed over hidden (the sweep's)", Passes.SWEEP);
    }

    @Override
    public Analysis requiredAnalysis() {
        return Analysis.INTEGRATED_GRADIENTS;
    }

    @Override
    public MethodScores fromSweep(SweepScores sweep) {
        return MethodScores.ofTokens(NAME, sweep.integratedGradients(), sweep.words(), sweep.pathPoints(),
                sweep.pathPoints());
    }
}
