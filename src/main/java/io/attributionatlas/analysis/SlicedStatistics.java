package io.attributionatlas.analysis;

import io.attributionatlas.attribution.SampleAttribution;
import io.attributionatlas.schema.Keys;
import java.io.Serializable;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * The corpus statistics of every slice: one {@link CorpusStatistics} per (definition, value), {@code all} first.
 * A sample adds to each slice it belongs to; merging merges slice by slice, so every slice's statistics are as
 * mergeable and exact as the whole corpus's.
 */
public final class SlicedStatistics implements Serializable {

    private static final long serialVersionUID = 1L;

    private final int layers;
    private final int heads;
    private final Map<Keys.Slice, CorpusStatistics> slices = new TreeMap<>();

    public SlicedStatistics(int layers, int heads) {
        this.layers = layers;
        this.heads = heads;
        slices.put(Slices.ALL_SLICE, new CorpusStatistics(layers, heads));
    }

    /** Adds the sample to each of its slices ({@code all} among them). */
    public void add(SampleAttribution s, List<Keys.Slice> sampleSlices) {
        for (Keys.Slice slice : sampleSlices) {
            slices.computeIfAbsent(slice, k -> CorpusStatistics.forSlice(layers, heads)).add(s);
        }
    }

    public SlicedStatistics merge(SlicedStatistics o) {
        o.slices.forEach((k, v) -> {
            CorpusStatistics mine = slices.get(k);
            if (mine == null) {
                slices.put(k, v);
            } else {
                mine.merge(v);
            }
        });
        return this;
    }

    public SlicedStatistics compact() {
        slices.values().forEach(CorpusStatistics::compact);
        return this;
    }

    /** The whole corpus's statistics. */
    public CorpusStatistics all() {
        return slices.get(Slices.ALL_SLICE);
    }

    /** Every slice's statistics, {@code all} first, then by definition and value. */
    public Map<Keys.Slice, CorpusStatistics> bySlice() {
        return Collections.unmodifiableMap(slices);
    }
}
