package io.attributionatlas.job;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What each executor did, for the manifest's {@code executors_json}, from the ledger's partition summaries
 * (one per partition, the attempt that finished it; so a retried or speculative attempt is not counted twice):
 * {@code [{executor, host, device, model_loads, partitions, samples, engine_seconds, statistics_seconds,
 * writing_seconds}]}, model_loads being the most loads that JVM had made when it finished a partition.
 */
final class ExecutorRecord {

    private ExecutorRecord() {
    }

    static String json(List<RunLedger.PartitionSummary> summaries) {
        Map<List<String>, long[]> executors = new TreeMap<>(java.util.Comparator.comparing(Object::toString));
        for (RunLedger.PartitionSummary s : summaries) {
            long[] sums = executors.computeIfAbsent(List.of(s.executor(), s.host(), s.device()), k -> new long[6]);
            sums[0] = Math.max(sums[0], s.modelLoads());
            sums[1]++;
            sums[2] += s.samples();
            sums[3] += s.engineMillis();
            sums[4] += s.statisticsMillis();
            sums[5] += s.writingMillis();
        }
        JsonArray out = new JsonArray();
        executors.forEach((key, sums) -> {
            JsonObject o = new JsonObject();
            o.addProperty("executor", key.get(0));
            o.addProperty("host", key.get(1));
            o.addProperty("device", key.get(2));
            o.addProperty("model_loads", sums[0]);
            o.addProperty("partitions", sums[1]);
            o.addProperty("samples", sums[2]);
            o.addProperty("engine_seconds", sums[3] / 1000.0);
            o.addProperty("statistics_seconds", sums[4] / 1000.0);
            o.addProperty("writing_seconds", sums[5] / 1000.0);
            out.add(o);
        });
        return out.toString();
    }
}
