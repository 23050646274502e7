package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.model.Architecture;
import io.attributionatlas.model.Task;
import io.attributionatlas.model.TinyModels;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One explainer per JVM for a model and its settings, however many tasks ask at once. */
class ExecutorModelsTest {

    @TempDir
    Path tmp;

    @Test
    void concurrentTasksShareOneModel() throws Exception {
        Path model = TinyModels.write(tmp.resolve("m"), TinyModels.Spec.of(Architecture.DISTILBERT,
                Task.SEQUENCE_CLASSIFICATION));
        JobConfig config = JobConfig.load(null, Map.of("model.path", model.toString(), "n_steps", "4"));
        int before = ExecutorModels.loadedCount();
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Explainer>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                futures.add(pool.submit(() -> ExecutorModels.explainer(config, null, new org.apache.hadoop.conf.Configuration())));
            }
            Explainer first = futures.get(0).get();
            for (Future<Explainer> f : futures) {
                assertSame(first, f.get());
            }
        } finally {
            pool.shutdown();
        }
        assertEquals(before + 1, ExecutorModels.loadedCount());
        JobConfig other = JobConfig.load(null, Map.of("model.path", model.toString(), "n_steps", "6"));
        ExecutorModels.explainer(other, null, new org.apache.hadoop.conf.Configuration());
        assertEquals(before + 2, ExecutorModels.loadedCount(), "other settings, another explainer");
    }
}
