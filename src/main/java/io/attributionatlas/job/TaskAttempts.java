package io.attributionatlas.job;

import com.google.gson.JsonObject;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerStageSubmitted;
import org.apache.spark.scheduler.SparkListenerTaskEnd;

/**
 * Counts the task attempts of the stages run under one job group (the explain stage): how many ended, failed
 * (lost executor, exception), were killed (the losing copy of a speculative pair) or were speculative copies.
 * The manifest's {@code task_attempts_json}: what Spark retried while the tables stayed exact.
 */
final class TaskAttempts extends SparkListener {

    static final String JOB_GROUP_KEY = "spark.jobGroup.id";

    private final String group;
    private final Set<Integer> stages = ConcurrentHashMap.newKeySet();
    private final AtomicLong ended = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private final AtomicLong killed = new AtomicLong();
    private final AtomicLong speculative = new AtomicLong();

    TaskAttempts(String group) {
        this.group = group;
    }

    @Override
    public void onStageSubmitted(SparkListenerStageSubmitted event) {
        if (event.properties() != null && group.equals(event.properties().getProperty(JOB_GROUP_KEY))) {
            stages.add(event.stageInfo().stageId());
        }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd event) {
        if (!stages.contains(event.stageId())) {
            return;
        }
        ended.incrementAndGet();
        if (event.taskInfo().speculative()) {
            speculative.incrementAndGet();
        }
        if (event.taskInfo().killed()) {
            killed.incrementAndGet();
        } else if (event.taskInfo().failed()) {
            failed.incrementAndGet();
        }
    }

    String json() {
        JsonObject o = new JsonObject();
        o.addProperty("attempts", ended.get());
        o.addProperty("failed", failed.get());
        o.addProperty("killed", killed.get());
        o.addProperty("speculative", speculative.get());
        return o.toString();
    }
}
