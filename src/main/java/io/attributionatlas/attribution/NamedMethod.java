package io.attributionatlas.attribution;

/** An {@link AttributionMethod} whose name, summary and passes are given once, to its constructor. */
public abstract class NamedMethod implements AttributionMethod {

    private final String name;
    private final String summary;
    private final Passes passes;

    protected NamedMethod(String name, String summary, Passes passes) {
        this.name = name;
        this.summary = summary;
        this.passes = passes;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final String summary() {
        return summary;
    }

    @Override
    public final Passes passes() {
        return passes;
    }

    @Override
    public String toString() {
        return name;
    }
}
