package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import io.attributionatlas.attribution.GpuEqualsCpuTest;
import io.attributionatlas.model.DeviceChoice;
import java.nio.file.Path;
import org.apache.spark.sql.Row;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * On a GPU (tag gpu; skipped where PyTorch sees none): the job in local mode on the GPU gives the tables it gives on
 * the CPU (every value within 1e-5 × max(1, |value|)), and its manifest says the executor used the GPU.
 */
@Tag(GpuEqualsCpuTest.TAG)
class GpuJobTest {

    @TempDir
    Path tmp;

    @Test
    void theJobOnTheGpuGivesTheCpusTables() throws Exception {
        assumeTrue(DeviceChoice.visibleGpus() > 0, "no GPU visible to PyTorch");
        Path input = JobRuns.demoSlice(tmp, 48);
        String model = Fixtures.realModel().toString();
        Path cpu = tmp.resolve("cpu");
        Path gpu = tmp.resolve("gpu");
        Fixtures.Forked onCpu = JobRuns.runDriver(JobRuns.demoArgs(model, input, cpu, "--set", "spark.master=local[2]",
                "--set", "engine.device=cpu", "--set", "statistics.head_similarity_sample_rate=1"), tmp.resolve("cpu.log"),
                10);
        assertEquals(0, onCpu.status(), onCpu.output());
        Fixtures.Forked onGpu = JobRuns.runDriver(JobRuns.demoArgs(model, input, gpu, "--set", "spark.master=local[2]",
                "--set", "engine.device=gpu", "--set", "statistics.head_similarity_sample_rate=1"), tmp.resolve("gpu.log"),
                10);
        assertEquals(0, onGpu.status(), onGpu.output());
        JobRuns.assertSameTables(cpu, gpu, 1e-5, true);
        Row manifest = JobEndToEndTest.table(gpu, Tables.MANIFEST).get(0);
        JsonArray executors = JsonParser.parseString(manifest.getString(manifest.fieldIndex("executors_json")))
                .getAsJsonArray();
        executors.forEach(e -> assertTrue(e.getAsJsonObject().get("device").getAsString().startsWith("gpu"),
                "the executor's device: " + e));
    }
}
