package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.MethodScores;
import io.attributionatlas.attribution.NamedMethod;

/** |∂F/∂e| summed over hidden, at the embedding output, at the input: read off the shared sweep's α = 1 row. */
public final class Saliency extends NamedMethod {

    public static final String NAME = "saliency";

    public Saliency() {
        super(NAME, "|dF/de| summed over hidden, at the embedding output, at the input", Passes.SWEEP);
    }

    @Override
    public MethodScores fromSweep(SweepScores sweep) {
        return MethodScores.ofTokens(NAME, sweep.saliency(), sweep.words(), 1, 1);
    }
}
