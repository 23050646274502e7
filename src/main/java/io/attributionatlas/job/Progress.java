package io.attributionatlas.job;

import java.io.PrintStream;
import java.io.Serializable;
import java.util.HashSet;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.spark.SparkContext;
import org.apache.spark.Success$;
import org.apache.spark.scheduler.AccumulableInfo;
import org.apache.spark.scheduler.SparkListener;
import org.apache.spark.scheduler.SparkListenerExecutorMetricsUpdate;
import org.apache.spark.scheduler.SparkListenerTaskEnd;
import org.apache.spark.util.LongAccumulator;
import scala.Tuple4;
import scala.jdk.javaapi.CollectionConverters;

/**
 * The explain stage's progress on the driver's console: rows done out of the input's, partitions done out of the
 * run's, rows/s, the time left at that rate and the engine's share of the task slots' time. The tasks count rows
 * and engine time in two accumulators; Spark brings a running task's values to the driver with every executor
 * heartbeat ({@code spark.executor.heartbeatInterval}, 10 s) and a finished task's with its end, so the count moves
 * inside long partitions too, in local mode and on a cluster. On a terminal one status line is rewritten every second;
 * elsewhere (CI, logs) a line is printed when a partition finishes, and at least every {@value #QUIET_SECONDS} s.
 */
final class Progress extends SparkListener implements AutoCloseable {

    /** The tasks' counters, shipped with the partition function. */
    record Counters(LongAccumulator rows, LongAccumulator engineMillis) implements Serializable {
        private static final long serialVersionUID = 1L;

        static Counters register(SparkContext sc) {
            return new Counters(sc.longAccumulator("atlas rows done"), sc.longAccumulator("atlas engine ms"));
        }
    }

    /** The longest silence in non-interactive output. */
    static final int QUIET_SECONDS = 15;

    private final PrintStream log;
    private final Counters counters;
    private final long totalRows;
    private final long reusedRows;
    private final int partitions;
    private final int slots;
    private final boolean interactive;
    private final long started = System.nanoTime();
    /** Running tasks' latest values: task id → {rows, engine ms}. */
    private final Map<Long, long[]> running = new ConcurrentHashMap<>();
    private final int reusedPartitions;
    /** This run's finished partitions (a resume's reused ones run no task that counts rows). */
    private final Set<Integer> finishedPartitions = new HashSet<>();
    private long finishedRows;
    private long finishedEngineMillis;
    private long lastPrinted = System.nanoTime();
    private String lastLine = "";
    private final Thread ticker;
    private volatile boolean closed;

    Progress(PrintStream log, Counters counters, long totalRows, long reusedRows, int partitions, int reusedPartitions,
            int slots, boolean interactive) {
        this.log = log;
        this.counters = counters;
        this.totalRows = totalRows;
        this.reusedRows = reusedRows;
        this.partitions = partitions;
        this.slots = Math.max(1, slots);
        this.interactive = interactive;
        this.reusedPartitions = reusedPartitions;
        this.ticker = new Thread(this::tick, "atlas-progress");
        ticker.setDaemon(true);
        ticker.start();
    }

    /** Whether the console is a terminal (a status line is rewritten) or not (a line per partition). */
    static boolean interactiveConsole() {
        return System.console() != null && !"dumb".equals(System.getenv("TERM"));
    }

    @Override
    public void onExecutorMetricsUpdate(SparkListenerExecutorMetricsUpdate update) {
        for (Tuple4<Object, Object, Object, scala.collection.immutable.Seq<AccumulableInfo>> task
                : CollectionConverters.asJava(update.accumUpdates())) {
            long[] values = values(task._4());
            if (values != null) {
                running.put((Long) task._1(), values);
            }
        }
    }

    @Override
    public void onTaskEnd(SparkListenerTaskEnd end) {
        long[] values = values(end.taskInfo().accumulables());
        running.remove(end.taskInfo().taskId());
        if (values == null || !(end.reason() instanceof Success$)) {
            return; // another stage's task, or a failed attempt whose rows are computed again
        }
        boolean printNow;
        synchronized (this) {
            if (!finishedPartitions.add(end.taskInfo().index())) {
                return; // a speculative copy of a finished partition
            }
            finishedRows += values[0];
            finishedEngineMillis += values[1];
            printNow = !interactive;
        }
        if (printNow) {
            print();
        }
    }

    /** This listener's two accumulators' values among a task's, or null when the task has neither. */
    private long[] values(scala.collection.Seq<AccumulableInfo> infos) {
        long[] values = null;
        for (AccumulableInfo info : CollectionConverters.asJava(infos)) {
            int which = info.id() == counters.rows().id() ? 0 : info.id() == counters.engineMillis().id() ? 1 : -1;
            if (which >= 0 && info.update().isDefined()) {
                values = values == null ? new long[2] : values;
                values[which] = ((Number) info.update().get()).longValue();
            }
        }
        return values;
    }

    private void tick() {
        while (!closed) {
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
            if (interactive || System.nanoTime() - lastPrinted >= QUIET_SECONDS * 1_000_000_000L) {
                print();
            }
        }
    }

    /** The status line now. */
    synchronized String line() {
        long rows = reusedRows + finishedRows;
        long engine = finishedEngineMillis;
        for (long[] v : running.values()) {
            rows += v[0];
            engine += v[1];
        }
        rows = Math.min(rows, totalRows);
        double seconds = Math.max(1e-3, (System.nanoTime() - started) / 1e9);
        double rate = (rows - reusedRows) / seconds;
        StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "atlas run: %,d of %,d rows (%.0f%%), %d of %d "
                + "partitions, %.1f rows/s", rows, totalRows, totalRows == 0 ? 100.0 : 100.0 * rows / totalRows,
                reusedPartitions + finishedPartitions.size(), partitions, rate));
        if (rate > 0 && rows < totalRows) {
            b.append(", ").append(duration((totalRows - rows) / rate)).append(" left");
        }
        b.append(String.format(Locale.ROOT, ", engine busy %.0f%% of %d task slot%s", Math.min(100.0, 100.0 * engine
                / 1000.0 / (seconds * slots)), slots, slots == 1 ? "" : "s"));
        return b.toString();
    }

    private synchronized void print() {
        if (closed) {
            return;
        }
        String line = line();
        if (!interactive && line.equals(lastLine)) {
            return; // nothing moved since the last line
        }
        lastLine = line;
        if (interactive) {
            log.print("\r" + line + "\u001b[K"); // erase what a longer earlier line left
        } else {
            log.println(line);
        }
        log.flush();
        lastPrinted = System.nanoTime();
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format(Locale.ROOT, "%d h %02d m", s / 3600, s / 60 % 60)
                : s >= 60 ? String.format(Locale.ROOT, "%d m %02d s", s / 60, s % 60) : s + " s";
    }

    /** Stops the status line: its last state, then a new line. */
    @Override
    public void close() {
        print();
        synchronized (this) {
            closed = true;
        }
        ticker.interrupt();
        if (interactive) {
            log.println();
        }
    }
}
