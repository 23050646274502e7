package io.attributionatlas.cli;

import io.attributionatlas.report.RunReport;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.Set;
import org.apache.spark.sql.SparkSession;

/** {@code atlas report}: a job run's tables as one self-contained HTML page. */
final class ReportCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "report --run PATH --out FILE.html";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) throws Exception {
        Arguments a = new Arguments(args, 1, Set.of("run", "out"));
        String run = a.require("run");
        Path target = a.path("out");
        if (!run.contains("://") && !Path.of(run, "manifest").toFile().isDirectory()) {
            throw new UsageException("--run " + run + " is not a completed Attribution Atlas run (no manifest table)");
        }
        boolean own = SparkSession.getActiveSession().isEmpty();
        SparkSession spark = SparkSession.builder().appName("attribution-atlas report").master("local[1]")
                .config("spark.ui.enabled", "false").getOrCreate();
        spark.sparkContext().setLogLevel("WARN");
        try {
            OutputFiles.write(target, RunReport.render(spark, run));
        } finally {
            if (own) {
                spark.stop();
            }
        }
        err.println("atlas report: " + target);
        return 0;
    }
}
