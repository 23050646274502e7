package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.MethodScores;

/** ∂F/∂e · e summed over hidden, at the input: read off the shared sweep's α = 1 row. */
public final class InputXGradient implements AttributionMethod {

    public static final String NAME = "input_x_gradient";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String summary() {
        return "dF/de . e summed over hidden, at the input";
    }

    @Override
    public Passes passes() {
        return Passes.SWEEP;
    }

    @Override
    public MethodScores fromSweep(SweepScores sweep) {
        return MethodScores.ofTokens(NAME, sweep.inputXGradient(), sweep.words(), 1, 1);
    }
}
