package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.attributionatlas.attribution.Explainer;
import io.attributionatlas.model.EncoderFamilies;
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
        Path model = TinyModels.write(tmp.resolve("m"), TinyModels.Spec.of(EncoderFamilies.of("distilbert"),
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

    /**
     * The executor's device comes from the GPU Spark assigned to the task (a real TaskContext with gpu addresses, as
     * spark.task.resource.gpu.amount gives one): with engine.device gpu that GPU is the one asked for, and where
     * PyTorch sees none (this CPU build) the task fails naming it; auto falls back to the CPU.
     */
    @Test
    void theTasksGpuComesFromSparksResourceAssignment() {
        org.apache.spark.resource.ResourceInformation gpu = new org.apache.spark.resource.ResourceInformation("gpu",
                new String[] {"1"});
        @SuppressWarnings("unchecked")
        scala.collection.immutable.Map<String, org.apache.spark.resource.ResourceInformation> resources =
                (scala.collection.immutable.Map<String, org.apache.spark.resource.ResourceInformation>)
                        scala.collection.immutable.Map$.MODULE$.empty().updated("gpu", gpu);
        org.apache.spark.TaskContextImpl task = new org.apache.spark.TaskContextImpl(0, 0, 0, 7L, 0, 1, null,
                new java.util.Properties(), null, org.apache.spark.executor.TaskMetrics.empty(), 1, resources);
        org.apache.spark.TaskContext$.MODULE$.setTaskContext(task);
        try {
            assertEquals(List.of("1"), ExecutorModels.assignedGpus(org.apache.spark.TaskContext.get()));
            assertEquals(ai.djl.Device.cpu(), ExecutorModels.taskDevice(io.attributionatlas.model.DeviceChoice.AUTO),
                    "auto: the CPU where PyTorch sees no GPU, even with one assigned");
            IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class,
                    () -> ExecutorModels.taskDevice(io.attributionatlas.model.DeviceChoice.parse("gpu")));
            org.junit.jupiter.api.Assertions.assertTrue(e.getMessage().contains(
                    "device gpu: GPU 1 was asked for, but PyTorch sees no GPU"), e.getMessage());
        } finally {
            org.apache.spark.TaskContext$.MODULE$.unset();
        }
        assertEquals(List.of(), ExecutorModels.assignedGpus(null), "outside a task: none");
    }

    /** memory_mb auto divides a GPU between the tasks that run on it at once. */
    @Test
    void tasksPerDeviceFollowTheMasterAndSparksGpuShare() {
        assertEquals(4, ExecutorModels.tasksPerDevice(JobConfig.load(null, Map.of("spark.master", "local[4]"))));
        assertEquals(1, ExecutorModels.tasksPerDevice(JobConfig.load(null, Map.of("spark.master", "local"))));
        assertEquals(Runtime.getRuntime().availableProcessors(),
                ExecutorModels.tasksPerDevice(JobConfig.load(null, Map.of("spark.master", "local[*]"))));
        assertEquals(java.util.OptionalInt.empty(), ExecutorModels.localTasks("spark://host:7077"));
        assertEquals(java.util.OptionalInt.empty(), ExecutorModels.localTasks("local-cluster[2,1,1024]"));
    }
}
