package io.attributionatlas.job;

import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.executor.ExecutorMetrics;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import scala.Tuple2;

/**
 * The peak resident memory of the driver and of every executor, from Spark's own executor metrics: each executor
 * polls its process tree's RSS ({@value #RSS_METRIC}) every {@value #POLLING_INTERVAL} and reports the peaks in its
 * heartbeats and with every finished task; this listener keeps the largest per executor. In local mode the only
 * executor is the driver's own JVM. The driver's exact peak (the kernel's high-water mark, VmHWM) is added when the
 * manifest is written, and after each of the job's stages (which stage raised it). The manifest's
 * {@code memory_json}: what a cluster's driver and executors need.
 */
final class MemoryPeaks extends SparkListener {

    /** Spark's metric: RSS of the executor's JVM and its child processes, polled from /proc. */
    static final String RSS_METRIC = "ProcessTreeJVMRSSMemory";
    static final String POLLING_INTERVAL = "250ms";

    /** The Spark settings under which executors poll their RSS; set before the session starts. */
    static final Map<String, String> SPARK_SETTINGS = Map.of("spark.executor.processTreeMetrics.enabled", "true",
            "spark.executor.metrics.pollingInterval", POLLING_INTERVAL);

    private final Map<String, Long> peakBytes = new ConcurrentHashMap<>();
    /** The driver's VmHWM at the end of each of the job's stages, in order: which stage raised the peak. */
    private final Map<String, Long> driverPeakKbByStage = new java.util.LinkedHashMap<>();

    void stageEnded(String stage) {
        driverPeakKbByStage.put(stage, ownPeakKb());
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate event) {
        scala.collection.Iterator<Tuple2<Tuple2<Object, Object>, ExecutorMetrics>> updates =
                event.executorUpdates().iterator();
        while (updates.hasNext()) {
            record(event.execId(), updates.next()._2());
        }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd event) {
        if (event.taskExecutorMetrics() != null) {
            record(event.taskInfo().executorId(), event.taskExecutorMetrics());
        }
    }

    private void record(String executor, ExecutorMetrics metrics) {
        long rss = metrics.getMetricValue(RSS_METRIC);
        if (rss > 0) {
            peakBytes.merge(executor, rss, Math::max);
        }
    }

    /** {"driver_vmhwm_mb": exact, "executors_rss_mb": {id: polled peak}} (in MB; -1 where /proc is unreadable). */
    String json() {
        JsonObject o = new JsonObject();
        o.addProperty("driver_vmhwm_mb", ownPeakKb() / 1024.0);
        JsonObject executors = new JsonObject();
        new TreeMap<>(peakBytes).forEach((id, bytes) -> executors.addProperty(id, bytes / (1024.0 * 1024.0)));
        o.add("executors_rss_mb", executors);
        JsonObject byStage = new JsonObject();
        driverPeakKbByStage.forEach((stage, kb) -> byStage.addProperty(stage, kb / 1024.0));
        o.add("driver_vmhwm_mb_after_stage", byStage);
        o.addProperty("polling_interval", POLLING_INTERVAL);
        return o.toString();
    }

    /** This process's peak RSS (VmHWM) in kB, or -1 where /proc is not there. */
    static long ownPeakKb() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", ""));
                }
            }
        } catch (IOException | NumberFormatException e) {
            // not Linux: no peak to give
        }
        return -1;
    }
}
