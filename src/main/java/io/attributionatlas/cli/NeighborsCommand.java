package io.attributionatlas.cli;

import io.attributionatlas.report.CorpusNeighbours;
import java.io.PrintStream;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import org.apache.spark.sql.SparkSession;

/**
 * {@code atlas neighbors}: exBERT's corpus search from the command line. The k corpus tokens whose contextual
 * embedding at a layer is nearest by cosine to a sample's token, each with its context and the token a head attends
 * to most from it. Exact search on the device ({@link io.attributionatlas.analysis.CorpusSearch}).
 */
final class NeighborsCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "neighbors --run PATH --sample ID --position P --layer L [--k 10] [--head 0] [--device auto|cpu|gpu]"
                + " [--repeat 1]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, Set.of("run", "sample", "position", "layer", "k", "head", "device",
                "repeat"));
        String run = a.require("run");
        String sample = a.require("sample");
        int position = a.integer("position", -1, 0);
        int layer = a.integer("layer", -1, 0);
        if (position < 0 || layer < 0) {
            throw new UsageException("--position and --layer are required");
        }
        int k = a.integer("k", 10, 1);
        int head = a.integer("head", 0, 0);
        int repeat = a.integer("repeat", 1, 1);
        if (!run.contains("://") && !java.nio.file.Path.of(run, io.attributionatlas.schema.Table.TOKEN_EMBEDDINGS
                .tableName()).toFile().isDirectory()) {
            throw new UsageException("--run " + run + " has no token_embeddings table (a run of this version, with "
                    + "embeddings.layers set)");
        }
        boolean own = SparkSession.getActiveSession().isEmpty();
        SparkSession spark = SparkSession.builder().appName("attribution-atlas neighbors").master("local[*]")
                .config("spark.ui.enabled", "false").config("spark.driver.maxResultSize", "0").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        try {
            long t0 = System.nanoTime();
            try (CorpusNeighbours index = CorpusNeighbours.load(spark, run, layer, ModelOptions.device(a))) {
                double loadSeconds = (System.nanoTime() - t0) / 1e9;
                int row = index.row(sample, position);
                if (row < 0) {
                    err.println("atlas neighbors: sample '" + sample + "' position " + position + " is not in "
                            + "token_embeddings at layer " + layer + " (a run keeps every position of its dumped "
                            + "samples and an embeddings.sample_rate share of the others; dump it with dump.ids)");
                    return 1;
                }
                double[] millis = new double[repeat];
                List<CorpusNeighbours.Neighbour> found = null;
                for (int r = 0; r < repeat; r++) {
                    long q0 = System.nanoTime();
                    found = index.nearest(new int[] {row}, k).get(0);
                    millis[r] = (System.nanoTime() - q0) / 1e6;
                }
                CorpusNeighbours.Neighbour query = index.neighbour(row, 1f);
                out.printf(Locale.ROOT, "query %s:%d at layer %d: %s [%s] %s%n", sample, position, layer,
                        query.before(), query.token(), query.after());
                out.printf(Locale.ROOT, "%d nearest of %,d corpus tokens by cosine (head %d's most attended token "
                        + "after ->):%n", found.size(), index.size(), head);
                for (CorpusNeighbours.Neighbour n : found) {
                    out.printf(Locale.ROOT, "  %.4f  %s:%d  %s [%s] %s%s%n", n.cosine(), n.id(), n.position(),
                            n.before(), n.token(), n.after(), head < n.attended().size() ? "  -> " + n.attended().get(head) : "");
                }
                java.util.Arrays.sort(millis);
                err.printf(Locale.ROOT, "atlas neighbors: loaded %d vectors of layer %d in %.1f s; query %.1f ms "
                        + "(median of %d)%n", index.size(), layer, loadSeconds, millis[repeat / 2], repeat);
            }
        } finally {
            if (own) {
                spark.stop();
            }
        }
        return 0;
    }
}
