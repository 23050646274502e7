package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;

/** ∂F/∂e · e summed over hidden, at the input: read off the shared sweep's α = 1 row. */
public final class InputXGradient extends NamedMethod {

    public static final String NAME = "input_x_gradient";

    public InputXGradient() {
        super(NAME, "dF/de . e summed over hidden, at the input", Passes.SWEEP);
    }

    @Override
    public MethodScores fromSweep(SweepScores sweep) {
        return MethodScores.ofTokens(NAME, sweep.inputXGradient(), sweep.words(), 1, 1);
    }
}
