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
 * Which device each executor explained its partitions on, for the manifest: every finished partition adds
 * "executor, host, device"; the driver counts them into a JSON array of
 * {@code {executor, host, device, partitions}} (task retries may add a partition twice; the devices stay right).
 */
final class DeviceRecord {

    private static final String SEPARATOR = "\t";

    private DeviceRecord() {
    }

    /** This executor's entry for a partition explained on {@code device}. */
    static String of(Device device) {
        String executor = SparkEnv.get() == null ? "driver" : SparkEnv.get().executorId();
        String host;
        try {
            host = InetAddress.getLocalHost().getHostName();
        } catch (UnknownHostException e) {
            host = "unknown";
        }
        return executor + SEPARATOR + host + SEPARATOR + device;
    }

    static String json(List<String> entries) {
        Map<String, Integer> partitions = new TreeMap<>();
        entries.forEach(e -> partitions.merge(e, 1, Integer::sum));
        JsonArray out = new JsonArray();
        partitions.forEach((entry, count) -> {
            String[] parts = entry.split(SEPARATOR, 3);
            JsonObject o = new JsonObject();
            o.addProperty("executor", parts[0]);
            o.addProperty("host", parts[1]);
            o.addProperty("device", parts[2]);
            o.addProperty("partitions", count);
            out.add(o);
        });
        return out.toString();
    }
}
