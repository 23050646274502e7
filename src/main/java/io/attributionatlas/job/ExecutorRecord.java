package io.attributionatlas.job;

import ai.djl.Device;
import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.SparkEnv;

/**
 * What each executor did, for the manifest's {@code executors_json}: every finished partition adds its
 * executor, host, device, the model loads of that JVM so far, its samples and engine time; the driver sums
 * them per executor into {@code [{executor, host, device, model_loads, partitions, samples, engine_seconds}]}.
 * These come from an accumulator, so a retried or speculative task attempt adds its partition again.
 */
final class ExecutorRecord {

    private static final String SEPARATOR = "\t";

    private ExecutorRecord() {
    }

    /** This executor's entry for a partition of {@code samples} explained on {@code device}. */
    static String of(Device device, int modelLoads, long samples, long engineMillis) {
        String executor = SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId();
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = "unknown";
        }
        return String.join(SEPARATOR, executor, host, device.toString(), Integer.toString(modelLoads),
                Long.toString(samples), Long.toString(engineMillis));
    }

    static String json(List<String> entries) {
        Map<String, long[]> executors = new TreeMap<>(); // executor, host, device → loads, partitions, samples, ms
        for (String entry : entries) {
            String[] p = entry.split(SEPARATOR);
            long[] sums = executors.computeIfAbsent(String.join(SEPARATOR, p[0], p[1], p[2]), k -> new long[4]);
            sums[0] = Math.max(sums[0], Long.parseLong(p[3]));
            sums[1]++;
            sums[2] += Long.parseLong(p[4]);
            sums[3] += Long.parseLong(p[5]);
        }
        JsonArray out = new JsonArray();
        executors.forEach((key, sums) -> {
            String[] p = key.split(SEPARATOR);
            JsonObject o = new JsonObject();
            o.addProperty("executor", p[0]);
            o.addProperty("host", p[1]);
            o.addProperty("device", p[2]);
            o.addProperty("model_loads", sums[0]);
            o.addProperty("partitions", sums[1]);
            o.addProperty("samples", sums[2]);
            o.addProperty("engine_seconds", sums[3] / 1000.0);
            out.add(o);
        });
        return out.toString();
    }
}
