package io.attributionatlas.cli;

import io.attributionatlas.job.RunComparison;
import io.attributionatlas.report.ComparisonPage;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.spark.sql.SparkSession;

/**
 * {@code atlas compare --run A --run B --out DIR}: two runs of the same corpus with different models, joined on
 * sample id: compare_samples, compare_heads and compare_tokens under DIR, and DIR/compare.html.
 */
final class CompareCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "compare --run A --run B --out DIR";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        List<String> runs = new ArrayList<>();
        String dir = null;
        for (int i = 1; i < args.length; i++) {
            if ((args[i].equals("--run") || args[i].equals("--out")) && i + 1 < args.length) {
                if (args[i].equals("--run")) {
                    runs.add(args[++i]);
                } else {
                    dir = args[++i];
                }
            } else {
                throw new UsageException("compare: unexpected argument '" + args[i] + "'");
            }
        }
        if (runs.size() != 2 || dir == null) {
            throw new UsageException("compare: give --run twice (a, then b) and --out");
        }
        boolean own = SparkSession.getActiveSession().isEmpty();
        SparkSession spark = SparkSession.builder().appName("attribution-atlas compare").master("local[2]")
                .config("spark.ui.enabled", "false").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        try {
            RunComparison.Result r;
            try {
                r = RunComparison.compare(spark, runs.get(0), runs.get(1), dir);
            } catch (IllegalArgumentException e) {
                err.println("atlas compare: refused: " + e.getMessage());
                return 2;
            }
            Path page = Path.of(dir, "compare.html");
            OutputFiles.write(page, ComparisonPage.render(spark, dir, runs.get(0), runs.get(1)));
            out.printf(java.util.Locale.ROOT, "atlas compare: %d common samples (%d only in a, %d only in b), %d "
                    + "flipped predictions; heads matched by %s; tables in %s, page %s%n", r.common(), r.onlyA(),
                    r.onlyB(), r.flips(), r.matchedBy(), dir, page);
            return 0;
        } finally {
            if (own) {
                spark.stop();
            }
        }
    }
}
