package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.attributionatlas.attribution.AttributionOptions;
import io.attributionatlas.attribution.MemoryBudget;
import io.attributionatlas.model.Precision;
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
        assertEquals(AttributionOptions.AUTO, job.memoryMb());
        assertEquals(AttributionOptions.AUTO, job.internalBatchSize());
        // auto on a CPU: the budget and rows the long-inputs work measured
        MemoryBudget cpu = MemoryBudget.of(job.memoryMb(), job.internalBatchSize(), ai.djl.Device.cpu());
        assertEquals(MemoryBudget.CPU_DEFAULT_MB, cpu.megabytes());
        assertEquals(MemoryBudget.CPU_DEFAULT_ROWS, cpu.maxRows());
        assertEquals(Precision.FP32, JobConfig.load(null, Map.of()).precision());
        assertEquals(JobConfig.CPU_SAMPLES_PER_BATCH, JobConfig.load(null, Map.of()).samplesPerBatch(false));
        assertEquals(JobConfig.GPU_SAMPLES_PER_BATCH, JobConfig.load(null, Map.of()).samplesPerBatch(true));
    }

    /** Every engine option has a job key, documented in atlas.conf, and every method is listed there. */
    @Test
    void everyEngineOptionHasAJobKeyWithALineInTheConfiguration() throws Exception {
        String conf = java.nio.file.Files.readString(java.nio.file.Path.of(JobConfig.DEFAULTS));
        for (String option : AttributionOptions.KEYS) {
            if (option.equals("analyses")) {
                assertTrue(conf.contains("\nlevel = "), "analyses come from level");
                continue;
            }
            String key = JobConfig.ENGINE_KEYS.get(option);
            assertTrue(key != null, "engine option " + option + " has a job key");
            assertTrue(conf.contains("\n" + key + " ="), key + " has a line in " + JobConfig.DEFAULTS);
        }
        assertEquals(AttributionOptions.KEYS.size() - 1, JobConfig.ENGINE_KEYS.size(), "no job key for nothing");
        String methodsDoc = conf.substring(conf.lastIndexOf("# Attribution methods", conf.indexOf("\nmethods =")),
                conf.indexOf("\nmethods ="));
        for (io.attributionatlas.attribution.AttributionMethod m : io.attributionatlas.attribution.AttributionMethods
                .all()) {
            assertTrue(methodsDoc.contains(m.name()), m.name() + " is listed in atlas.conf's methods line");
        }
        assertTrue(conf.contains(JobConfig.methodOptionLines()), "atlas.conf has the methods' options as their "
                + "declarations generate them (atlas methods --conf true):\n" + JobConfig.methodOptionLines());
        AttributionOptions set = JobConfig.load(null, Map.of("methods.noise_stdev", "0.25", "strategy", "naive"))
                .attributionOptions();
        assertEquals(0.25, set.methodOption(io.attributionatlas.attribution.method.GradientShap.NOISE_STDEV));
        assertEquals(AttributionOptions.Strategy.NAIVE, set.strategy());
        assertEquals(AttributionOptions.Strategy.SINGLE_PASS, JobConfig.load(null, Map.of()).attributionOptions()
                .strategy());
    }

    @Test
    void aBadMemoryBudgetFailsWhenTheConfigurationIsLoaded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> JobConfig.load(null, Map.of("engine.memory_mb", "0")));
        assertTrue(e.getMessage().contains("memory_mb: expected auto or a positive integer, got '0'"), e.getMessage());
        assertEquals(512, JobConfig.load(null, Map.of("engine.memory_mb", "512")).attributionOptions().memoryMb());
        assertEquals(AttributionOptions.AUTO, JobConfig.load(null, Map.of("engine.memory_mb", "AUTO"))
                .attributionOptions().memoryMb());
    }

    @Test
    void precisionAndBatchSamplesAreCheckedWhenTheConfigurationIsLoaded() {
        assertEquals(Precision.BF16, JobConfig.load(null, Map.of("engine.precision", "BF16")).precision());
        assertEquals(Precision.TF32, JobConfig.load(null, Map.of("engine.precision", "tf32")).precision());
        IllegalArgumentException precision = assertThrows(IllegalArgumentException.class,
                () -> JobConfig.load(null, Map.of("engine.precision", "fp8")));
        assertTrue(precision.getMessage().contains("engine.precision: expected fp32, tf32, bf16 or fp16, got 'fp8'"),
                precision.getMessage());
        assertEquals(7, JobConfig.load(null, Map.of("batch.samples", "7")).samplesPerBatch(true));
        IllegalArgumentException samples = assertThrows(IllegalArgumentException.class,
                () -> JobConfig.load(null, Map.of("batch.samples", "0")));
        assertTrue(samples.getMessage().contains("batch.samples: expected auto or a positive integer, got '0'"),
                samples.getMessage());
        IllegalArgumentException rows = assertThrows(IllegalArgumentException.class,
                () -> JobConfig.load(null, Map.of("internal_batch_size", "many")));
        assertTrue(rows.getMessage().contains("internal_batch_size: expected auto or a positive integer"),
                rows.getMessage());
    }

    @Test
    void theHeadSimilarityRateIsCheckedWhenTheConfigurationIsLoaded() {
        assertEquals(AttributionOptions.CPU_HEAD_SIMILARITY_RATE, JobConfig.load(null, Map.of())
                .attributionOptions().headSimilarityRate(ai.djl.Device.cpu()), "auto on a CPU");
        assertEquals(0.5, JobConfig.load(null, Map.of("statistics.head_similarity_sample_rate", "0.5"))
                .attributionOptions().headSimilarityRate(ai.djl.Device.gpu()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobConfig.load(null,
                Map.of("statistics.head_similarity_sample_rate", "2")));
        assertTrue(e.getMessage().contains("statistics.head_similarity_sample_rate: expected auto or a number in "
                + "[0, 1], got '2'"), e.getMessage());
    }

    @Test
    void aZeroBaselineWithTokenReplacingMethodsFailsWhenTheConfigurationIsLoaded() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JobConfig.load(null,
                Map.of("baseline", "zero", "methods", "integrated_gradients,occlusion")));
        assertTrue(e.getMessage().contains("as occlusion need; choose pad"), e.getMessage());
        assertEquals("zero", JobConfig.load(null, Map.of("baseline", "zero", "methods", "gradient_shap"))
                .attributionOptions().baseline().kind());
    }
}
