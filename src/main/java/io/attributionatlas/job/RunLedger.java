package io.attributionatlas.job;

import io.attributionatlas.schema.Json;
import io.attributionatlas.analysis.SlicedStatistics;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.OutputStream;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.catalyst.InternalRow;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder;
import org.apache.spark.sql.catalyst.encoders.ExpressionEncoder$;
import org.apache.spark.sql.catalyst.encoders.RowEncoder;
import org.apache.spark.sql.catalyst.expressions.UnsafeRow;

/**
 * A run's staging folder and its ledger of finished partitions, the unit of exactly-once output:
 * <pre>
 *   OUTPUT/_staging-RUN/run.json            what the run is: configuration, model and input fingerprints, partitions
 *   OUTPUT/_staging-RUN/ledger/part-00017/  one finished partition: a file per per-sample table (Spark's binary
 *                                           rows), its token_importance partial sums (rows too), its other
 *                                           statistics and summary.json
 *   OUTPUT/_staging-RUN/TABLE/              the tables, written from the ledger and moved into OUTPUT at commit
 * </pre>
 * A task attempt writes its partition into {@code ledger/_attempt-P-ID/} and renames that folder to
 * {@code part-P} when it is complete: a partition is finished exactly when {@code part-P} exists, a killed
 * attempt leaves only an ignored {@code _attempt} folder, and when two attempts of the same partition finish
 * (a retry racing a lost executor, a speculative copy) the second finds {@code part-P} there and discards its
 * own. The partition's content is a deterministic function of its rows, so whichever attempt wins, the tables
 * and statistics built from the ledger, one entry per partition index merged in index order, are the same.
 * A resumed run ({@code --resume RUN}) computes only the partitions the ledger lacks.
 */
final class RunLedger implements Serializable {

    private static final long serialVersionUID = 1L;

    static final String STAGING_PREFIX = "_staging-";
    private static final String RUN_INFO = "run.json";
    private static final String LEDGER = "ledger";
    private static final String STATISTICS = "statistics.bin";
    /** A per-sample table's file in a partition: Spark's UnsafeRows, each after its length in bytes. */
    private static final String ROWS = ".rows";
    private static final int END = -1;

    /**
     * Per table, its rows' serializers, built once per JVM and lent to one partition writer at a time (a serializer
     * reuses its output row, so it is not shared; building one costs more than a small partition's rows).
     */
    private static final class Serializers {
        private static final Map<String, ExpressionEncoder<Row>> ENCODERS = new java.util.concurrent.ConcurrentHashMap<>();
        private static final Map<String, java.util.Queue<ExpressionEncoder.Serializer<Row>>> IDLE =
                new java.util.concurrent.ConcurrentHashMap<>();

        static ExpressionEncoder.Serializer<Row> borrow(String table) {
            ExpressionEncoder.Serializer<Row> s = IDLE.computeIfAbsent(table,
                    t -> new java.util.concurrent.ConcurrentLinkedQueue<>()).poll();
            return s != null ? s : ENCODERS.computeIfAbsent(table, t -> ExpressionEncoder$.MODULE$.apply(
                    RowEncoder.encoderFor(Tables.ledgerSchema(t), false))).createSerializer();
        }

        static void giveBack(String table, ExpressionEncoder.Serializer<Row> serializer) {
            IDLE.get(table).add(serializer);
        }
    }
    private static final String SUMMARY = "summary.json";
    /** Keys that say where a run executes, not what it computes: a resumed run may change them. */
    private static final Set<String> PLACEMENT_KEYS = Set.of("spark.master", "engine.threads");
    /** Consecutive partitions whose statistics one task merges (in index order) before the driver merges those. */
    private static final int STATISTICS_GROUP = 32;

    /** What a run is, recorded when it starts and compared when it is resumed. */
    record RunInfo(String runId, String started, Map<String, String> config, String modelFingerprint,
            String inputFingerprint, long inputRows, int partitions) implements Serializable {
    }

    /** What one finished partition holds and where it was computed (summary.json). */
    record PartitionSummary(int partition, long attempt, String executor, String host, String device, int modelLoads,
            long samples, long errors, long matrices, long tokens, long engineMillis, long statisticsMillis,
            long writingMillis, double seconds)
            implements Serializable {
    }

    private final String staging;
    private final HadoopConf conf;
    private final RunInfo info;

    private RunLedger(String staging, HadoopConf conf, RunInfo info) {
        this.staging = staging;
        this.conf = conf;
        this.info = info;
    }

    static Path stagingPath(String output, String runId) {
        return new Path(output, STAGING_PREFIX + runId);
    }

    /** Whether run {@code runId} has an unfinished staging folder (its run.json) under {@code output}. */
    static boolean exists(String output, String runId, org.apache.hadoop.conf.Configuration conf) {
        Path info = new Path(stagingPath(output, runId), RUN_INFO);
        try {
            return info.getFileSystem(conf).exists(info);
        } catch (IOException e) {
            throw new IllegalStateException("cannot read " + info + ": " + e.getMessage(), e);
        }
    }

    /** A new run's ledger; refuses a run id whose unfinished run is still there. */
    static RunLedger start(String output, HadoopConf conf, RunInfo info) {
        Path staging = stagingPath(output, info.runId());
        try {
            FileSystem fs = staging.getFileSystem(conf.get());
            if (fs.exists(new Path(staging, RUN_INFO))) {
                throw new IllegalArgumentException("run " + info.runId() + " has an unfinished run under " + output
                        + ": finish it with --resume " + info.runId() + ", or choose another --run-id");
            }
            fs.delete(staging, true); // a start killed before it recorded run.json computed nothing
            fs.mkdirs(new Path(staging, LEDGER));
            try (OutputStream out = fs.create(new Path(staging, RUN_INFO), false)) {
                out.write(Json.COMPACT.toJson(info).getBytes(StandardCharsets.UTF_8));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot create the staging folder " + staging + ": " + e.getMessage(), e);
        }
        return new RunLedger(staging.toString(), conf, info);
    }

    /**
     * The ledger of the unfinished run {@code now.runId()}, after checking that the configuration, the model and
     * the input are the ones it started with; the resumed run keeps its partitioning and start time.
     */
    static RunLedger resume(String output, HadoopConf conf, RunInfo now) {
        Path staging = stagingPath(output, now.runId());
        RunInfo then;
        try {
            FileSystem fs = staging.getFileSystem(conf.get());
            Path file = new Path(staging, RUN_INFO);
            if (!fs.exists(file)) {
                throw new IllegalArgumentException("--resume " + now.runId() + ": no unfinished run " + now.runId()
                        + " under " + output + " (" + file + " not found; a finished run leaves no staging folder)");
            }
            try (FSDataInputStream in = fs.open(file)) {
                then = Json.COMPACT.fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8), RunInfo.class);
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the staging folder " + staging + ": " + e.getMessage(), e);
        }
        List<String> changes = new ArrayList<>();
        Set<String> keys = new TreeSet<>(then.config().keySet());
        keys.addAll(now.config().keySet());
        for (String key : keys) {
            String a = then.config().get(key);
            String b = now.config().get(key);
            if (!PLACEMENT_KEYS.contains(key) && !java.util.Objects.equals(a, b)) {
                changes.add("configuration key " + key + " was '" + a + "', now '" + b + "'");
            }
        }
        if (!then.modelFingerprint().equals(now.modelFingerprint())) {
            changes.add("the model changed (" + then.modelFingerprint() + ", now " + now.modelFingerprint() + ")");
        }
        if (!then.inputFingerprint().equals(now.inputFingerprint()) || then.inputRows() != now.inputRows()) {
            changes.add("the input changed (" + then.inputRows() + " rows " + then.inputFingerprint() + ", now "
                    + now.inputRows() + " rows " + now.inputFingerprint() + ")");
        }
        if (!changes.isEmpty()) {
            throw new IllegalArgumentException("--resume " + now.runId() + " refused: " + String.join("; ", changes)
                    + ". A resumed run must compute what the run started; start a new run instead");
        }
        return new RunLedger(staging.toString(), conf, then);
    }

    RunInfo info() {
        return info;
    }

    org.apache.hadoop.conf.Configuration hadoop() {
        return conf.get();
    }

    Path staging() {
        return new Path(staging);
    }

    private FileSystem fs() throws IOException {
        return new Path(staging).getFileSystem(conf.get());
    }

    private Path part(int partition) {
        return new Path(new Path(staging, LEDGER), String.format(java.util.Locale.ROOT, "part-%05d", partition));
    }

    /** Whether the partition is finished (executor side: a resumed run skips it). */
    boolean finished(int partition) {
        try {
            return fs().exists(part(partition));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The finished partitions (driver side). */
    Set<Integer> finishedPartitions() {
        Set<Integer> done = new TreeSet<>();
        try {
            for (FileStatus s : fs().listStatus(new Path(staging, LEDGER))) {
                String name = s.getPath().getName();
                if (name.startsWith("part-")) {
                    done.add(Integer.parseInt(name.substring("part-".length())));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return done;
    }

    /** A writer for one attempt at a partition. */
    PartitionWriter open(int partition, long attempt) {
        return new PartitionWriter(partition, attempt);
    }

    /** One attempt's output for its partition; {@link #commit} makes it the partition's, unless another was first. */
    /** A per-sample table's file in a partition attempt: length-prefixed UnsafeRows, then {@link #END}. */
    private record TableFile(String table, DataOutputStream out, ExpressionEncoder.Serializer<Row> serializer,
            byte[] buffer) {
        TableFile(String table, DataOutputStream out, ExpressionEncoder.Serializer<Row> serializer) {
            this(table, out, serializer, new byte[4096]);
        }

        /** Closes the file and gives the serializer back. */
        void close() throws IOException {
            try {
                out.close();
            } finally {
                Serializers.giveBack(table, serializer);
            }
        }
    }

    final class PartitionWriter implements AutoCloseable {
        private final int partition;
        private final Path dir;
        private final FileSystem fs;
        private final Map<String, TableFile> tables = new LinkedHashMap<>();
        private final Map<String, Long> counts = new TreeMap<>();
        private boolean committed;

        private PartitionWriter(int partition, long attempt) {
            this.partition = partition;
            this.dir = new Path(new Path(staging, LEDGER), "_attempt-" + partition + "-" + attempt);
            try {
                this.fs = fs();
                fs.delete(dir, true);
                fs.mkdirs(dir);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        void add(String table, Row row) {
            try {
                TableFile file = tables.get(table);
                if (file == null) {
                    file = new TableFile(table, new DataOutputStream(new BufferedOutputStream(fs.create(new Path(dir,
                            table + ROWS)), 1 << 16)), Serializers.borrow(table));
                    tables.put(table, file);
                }
                // Spark's own binary row: written once here, read back without deserialising objects
                UnsafeRow binary = (UnsafeRow) file.serializer().apply(row);
                file.out().writeInt(binary.getSizeInBytes());
                binary.writeToStream(file.out(), file.buffer());
                counts.merge(table, 1L, Long::sum);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        long count(String table) {
            return counts.getOrDefault(table, 0L);
        }

        /** Closes the files, adds statistics and summary, and renames the attempt to the partition. */
        void commit(SlicedStatistics statistics, PartitionSummary summary) {
            try {
                for (java.util.Iterator<TableFile> files = tables.values().iterator(); files.hasNext();) {
                    TableFile file = files.next();
                    files.remove(); // closed once, its serializer given back once
                    file.out().writeInt(END);
                    file.close();
                }
                try (ObjectOutputStream out = new ObjectOutputStream(new BufferedOutputStream(
                        fs.create(new Path(dir, STATISTICS)), 1 << 16))) {
                    out.writeObject(statistics);
                }
                try (OutputStream out = fs.create(new Path(dir, SUMMARY))) {
                    out.write(Json.COMPACT.toJson(summary).getBytes(StandardCharsets.UTF_8));
                }
                Path target = part(partition);
                // Another attempt finished first: its content is the same; ours is dropped.
                if (fs.exists(target) || !fs.rename(dir, target)) {
                    fs.delete(dir, true);
                }
                committed = true;
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** An attempt that did not commit leaves nothing. */
        @Override
        public void close() {
            if (!committed) {
                for (TableFile file : tables.values()) {
                    try {
                        file.close();
                    } catch (IOException ignored) {
                        // the folder goes anyway
                    }
                }
                try {
                    fs.delete(dir, true);
                } catch (IOException ignored) {
                    // a leftover _attempt folder is ignored and removed with the staging folder
                }
            }
        }
    }

    /** Every partition's summary, in index order; fails naming the partitions the ledger lacks. */
    List<PartitionSummary> summaries() {
        return summaries(java.util.stream.IntStream.range(0, info.partitions()).boxed().toList());
    }

    /** The summaries of the given partitions, each of which must be in the ledger. */
    List<PartitionSummary> summaries(java.util.Collection<Integer> partitions) {
        List<PartitionSummary> out = new ArrayList<>();
        List<Integer> missing = new ArrayList<>();
        try {
            FileSystem fs = fs();
            for (int p : partitions) {
                Path file = new Path(part(p), SUMMARY);
                if (!fs.exists(file)) {
                    missing.add(p);
                    continue;
                }
                try (FSDataInputStream in = fs.open(file)) {
                    out.add(Json.COMPACT.fromJson(new String(in.readAllBytes(), StandardCharsets.UTF_8),
                            PartitionSummary.class));
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        if (!missing.isEmpty()) {
            throw new IllegalStateException("partitions " + missing + " of " + info.partitions() + " are not in the "
                    + "ledger " + staging + "; nothing was committed");
        }
        return out;
    }

    /** The ledger's files and bytes on disk (partitions finished so far). */
    record Usage(long files, long bytes) {
    }

    Usage usage() {
        try {
            org.apache.hadoop.fs.ContentSummary c = fs().getContentSummary(new Path(staging, LEDGER));
            return new Usage(c.getFileCount(), c.getLength());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The bytes of one per-sample table's rows in the ledger, over its finished partitions. */
    long tableBytes(String table) {
        try {
            org.apache.hadoop.fs.FileStatus[] files = fs().globStatus(new Path(new Path(staging, LEDGER),
                    "part-*/" + table + ROWS));
            return files == null ? 0 : java.util.Arrays.stream(files).mapToLong(
                    org.apache.hadoop.fs.FileStatus::getLen).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** One per-sample table's rows (Spark's binary rows), partition by partition in index order. */
    JavaRDD<InternalRow> rows(JavaSparkContext jsc, String table) {
        int fields = Tables.ledgerSchema(table).size();
        return indices(jsc, info.partitions()).flatMap(p -> readRows(p, table, fields));
    }

    private Iterator<InternalRow> readRows(int partition, String table, int fields) throws IOException {
        FileSystem fs = fs();
        Path file = new Path(part(partition), table + ROWS);
        if (!fs.exists(file)) {
            return java.util.Collections.emptyIterator();
        }
        DataInputStream in = new DataInputStream(new BufferedInputStream(fs.open(file), 1 << 16));
        TaskContext task = TaskContext.get();
        if (task != null) {
            task.addTaskCompletionListener(context -> {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // read-only
                }
            });
        }
        return new Iterator<>() {
            private InternalRow next = read();

            private InternalRow read() {
                try {
                    int size = in.readInt();
                    if (size == END) {
                        return null;
                    }
                    byte[] bytes = new byte[size];
                    in.readFully(bytes);
                    UnsafeRow row = new UnsafeRow(fields);
                    row.pointTo(bytes, size);
                    return row;
                } catch (IOException e) {
                    throw new IllegalStateException("cannot read " + file + ": " + e.getMessage(), e);
                }
            }

            @Override
            public boolean hasNext() {
                return next != null;
            }

            @Override
            public InternalRow next() {
                if (next == null) {
                    throw new NoSuchElementException();
                }
                InternalRow r = next;
                next = read();
                return r;
            }
        };
    }

    /**
     * The corpus statistics: merged in partition-index order (groups of consecutive partitions in tasks, the
     * groups in order on the driver), so the floating-point sums are the same whichever attempts and runs
     * computed the partitions.
     */
    SlicedStatistics statistics(JavaSparkContext jsc) {
        int groups = (info.partitions() + STATISTICS_GROUP - 1) / STATISTICS_GROUP;
        List<SlicedStatistics> merged = indices(jsc, groups).map(g -> {
            SlicedStatistics sum = null;
            for (int p = g * STATISTICS_GROUP; p < Math.min(info.partitions(), (g + 1) * STATISTICS_GROUP); p++) {
                SlicedStatistics s = readStatistics(p);
                sum = sum == null ? s : sum.merge(s);
            }
            return sum;
        }).collect();
        SlicedStatistics total = merged.get(0);
        for (SlicedStatistics s : merged.subList(1, merged.size())) {
            total = total.merge(s);
        }
        return total;
    }

    private SlicedStatistics readStatistics(int partition) throws IOException {
        Path file = new Path(part(partition), STATISTICS);
        try (ObjectInputStream in = new ObjectInputStream(new BufferedInputStream(fs().open(file), 1 << 16))) {
            return (SlicedStatistics) in.readObject();
        } catch (ClassNotFoundException e) {
            throw new IllegalStateException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    private static JavaRDD<Integer> indices(JavaSparkContext jsc, int n) {
        List<Integer> all = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            all.add(i);
        }
        return jsc.parallelize(all, Math.max(1, n));
    }

    /** The input's row count and fingerprint, from one pass. */
    record InputSummary(long rows, String fingerprint) {
    }

    /**
     * The input's rows and fingerprint in one pass: an order-independent sum of SHA-256 prefixes of every row's
     * index, id, texts, label and raw form. A content fingerprint, so copying or touching the files does not change
     * it and any edited row does.
     */
    private static final byte[] FIELD_END = {1};

    static InputSummary summarize(Dataset<Row> corpus) {
        long[] total = corpus.javaRDD().mapPartitions(rows -> {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            long s = 0;
            long n = 0;
            while (rows.hasNext()) {
                Row r = rows.next();
                for (int i = 0; i < r.length(); i++) { // value by value: a giant text is not copied into one string
                    digest.update((r.isNullAt(i) ? "\u0000null" : String.valueOf(r.get(i))).getBytes(StandardCharsets.UTF_8));
                    digest.update(FIELD_END);
                }
                byte[] h = digest.digest();
                s += java.nio.ByteBuffer.wrap(h).getLong();
                n++;
            }
            return List.of(new long[] {n, s}).iterator();
        }).reduce((a, b) -> new long[] {a[0] + b[0], a[1] + b[1]});
        return new InputSummary(total[0], "rows-sha256-sum:" + HexFormat.of().toHexDigits(total[1]));
    }
}
