package io.attributionatlas.cli;

import io.attributionatlas.schema.Table;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * {@code atlas bench-neighbors}: writes a synthetic token_embeddings table of N seeded random vectors (the job's
 * schema; sample ids {@code s<row / 25>}, positions {@code row % 25}, layer 0), for scripts/neighbors-bench to time
 * {@code atlas neighbors} on a corpus of a million vectors without running the model a million times.
 */
final class NeighborsBenchCommand implements AtlasCli.Command {

    /** Tokens per synthetic sample. */
    static final int TOKENS = 25;

    @Override
    public String usage() {
        return "bench-neighbors --rows N --out DIR [--dimension 384] [--seed 1]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, Set.of("rows", "out", "dimension", "seed"));
        int rows = a.integer("rows", -1, 1);
        if (rows < 1) {
            throw new UsageException("--rows is required");
        }
        int dimension = a.integer("dimension", 384, 1);
        int seed = a.integer("seed", 1, 0);
        String target = a.path("out").resolve(Table.TOKEN_EMBEDDINGS.tableName()).toString();
        StructType schema = new StructType().add("id", DataTypes.StringType, false)
                .add("position", DataTypes.IntegerType, false).add("layer", DataTypes.IntegerType, false)
                .add("token", DataTypes.StringType, false)
                .add("embedding", DataTypes.createArrayType(DataTypes.FloatType, false), false)
                .add("context", DataTypes.createArrayType(DataTypes.StringType, false), false)
                .add("context_position", DataTypes.IntegerType, false)
                .add("attended_tokens", DataTypes.createArrayType(DataTypes.StringType, false));
        SparkSession spark = SparkSession.builder().appName("attribution-atlas bench-neighbors").master("local[*]")
                .config("spark.ui.enabled", "false").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        try {
            long t0 = System.nanoTime();
            int partitions = Math.max(1, rows / 100_000);
            var rdd = new org.apache.spark.api.java.JavaSparkContext(spark.sparkContext())
                    .parallelize(java.util.stream.IntStream.range(0, partitions).boxed().toList(), partitions)
                    .flatMap(p -> {
                        int from = (int) ((long) rows * p / partitions);
                        int to = (int) ((long) rows * (p + 1) / partitions);
                        List<Row> out2 = new ArrayList<>(to - from);
                        for (int r = from; r < to; r++) {
                            SplittableRandom random = new SplittableRandom(seed * 1_000_003L + r);
                            Float[] v = new Float[dimension];
                            for (int d = 0; d < dimension; d++) {
                                v[d] = (float) random.nextGaussian();
                            }
                            String token = "w" + random.nextInt(50_000);
                            out2.add(RowFactory.create("s" + r / TOKENS, r % TOKENS, 0, token,
                                    scala.jdk.javaapi.CollectionConverters.asScala(List.of(v)).toSeq(),
                                    scala.jdk.javaapi.CollectionConverters.asScala(List.of("the", token, "end")).toSeq(),
                                    1, scala.jdk.javaapi.CollectionConverters.asScala(List.of("the", "end")).toSeq()));
                        }
                        return out2.iterator();
                    });
            spark.createDataFrame(rdd, schema).write().mode("overwrite").parquet(target);
            err.printf(Locale.ROOT, "atlas bench-neighbors: %d vectors of %d in %s in %.1f s%n", rows, dimension,
                    target, (System.nanoTime() - t0) / 1e9);
        } finally {
            spark.stop();
        }
        return 0;
    }
}
