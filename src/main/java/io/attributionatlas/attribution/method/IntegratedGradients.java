package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.Analysis;
import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.MethodScores;

/** Integrated gradients at the embedding output, summed over hidden: the shared sweep's, at no extra pass. */
public final class IntegratedGradients implements AttributionMethod {

    public static final String NAME = "integrated_gradients";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String summary() {
        return "Integrated gradients at the embedding output, summed over hidden (the sweep's)";
    }

    @Override
    public Passes passes() {
        return Passes.SWEEP;
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
