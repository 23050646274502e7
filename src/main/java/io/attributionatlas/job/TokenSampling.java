package io.attributionatlas.job;

import io.attributionatlas.attribution.Sample;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;

/**
 * Which token positions of a sample go into token_embeddings: each position on its own, when a hash of
 * (seed, sample id, position) falls below the rate. It depends on nothing else, so a retried task, a resumed run or
 * another partitioning keeps exactly the same positions; a dumped sample keeps all of them.
 */
final class TokenSampling implements Serializable {

    private static final long serialVersionUID = 1L;
    private static final int[] NONE = new int[0];

    private final long seed;
    private final double rate;
    private final boolean enabled;

    TokenSampling(long seed, double rate, boolean enabled) {
        this.seed = seed;
        this.rate = rate;
        this.enabled = enabled;
    }

    int[] positions(Sample sample, boolean dumped) {
        return positions(sample.input().id(), sample.length(), dumped);
    }

    /** The kept positions of a sample of {@code n} tokens, ascending. */
    int[] positions(String sampleId, int n, boolean dumped) {
        if (!enabled || n == 0 || (!dumped && rate <= 0)) {
            return NONE;
        }
        if (dumped || rate >= 1) {
            return java.util.stream.IntStream.range(0, n).toArray();
        }
        long id = mix(seed ^ fnv(sampleId));
        return java.util.stream.IntStream.range(0, n).filter(p -> uniform(mix(id + p * 0x9E3779B97F4A7C15L)) < rate)
                .toArray();
    }

    /** FNV-1a over the id's UTF-8 bytes. */
    private static long fnv(String id) {
        long h = 0xcbf29ce484222325L;
        for (byte b : id.getBytes(StandardCharsets.UTF_8)) {
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        }
        return h;
    }

    /** SplitMix64's finaliser: every input bit reaches every output bit. */
    private static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    private static double uniform(long bits) {
        return (bits >>> 11) * 0x1.0p-53;
    }
}
