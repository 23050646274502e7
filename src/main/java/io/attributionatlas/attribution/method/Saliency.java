package io.attributionatlas.attribution.method;

import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.MethodScores;

/** |∂F/∂e| summed over hidden, at the embedding output, at the input: read off the shared sweep's α = 1 row. */
public final class Saliency implements AttributionMethod {

    public static final String NAME = "saliency";

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public String summary() {
        return "|dF/de| summed over hidden, at the embedding output, at the input";
    }

    @Override
    public Passes passes() {
        return Passes.SWEEP;
    }

    @Override
    public MethodScores fromSweep(SweepScores sweep) {
        return MethodScores.ofTokens(NAME, sweep.saliency(), sweep.words(), 1, 1);
    }
}
