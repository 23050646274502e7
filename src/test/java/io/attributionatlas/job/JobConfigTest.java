package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.attribution.AttributionOptions;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** conf/atlas.conf and the engine agree on every default they share; engine keys are checked up front. */
class JobConfigTest {

    @Test
    void theJobDefaultsAreTheEngineDefaults() {
        AttributionOptions job = JobConfig.load(null, Map.of()).attributionOptions();
        AttributionOptions engine = AttributionOptions.defaults();
        assertEquals(engine.method(), job.method());
        assertEquals(engine.nSteps(), job.nSteps());
        assertEquals(engine.conductance(), job.conductance());
        assertEquals(engine.output(), job.output());
        assertEquals(engine.qaReduction(), job.qaReduction());
        assertEquals(engine.internalBatchSize(), job.internalBatchSize());
        assertEquals(engine.memoryMb(), job.memoryMb());
        assertEquals(AttributionOptions.DEFAULT_MEMORY_MB, job.memoryMb());
    }

    @Test
    void aBadMemoryBudgetFailsWhenTheConfigurationIsLoaded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobConfig.load(null, Map.of("engine.memory_mb", "0")));
        assertTrue(e.getMessage().contains("memory_mb"), e.getMessage());
        assertEquals(512, JobConfig.load(null, Map.of("engine.memory_mb", "512")).attributionOptions().memoryMb());
    }
}
