package io.attributionatlas.cli;

import io.attributionatlas.job.JobCli;
import java.io.PrintStream;

/** {@code atlas run}: the corpus job in Spark local mode (the same entry point spark-submit uses). */
final class RunCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return JobCli.USAGE;
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) {
        return JobCli.run(args, out, err);
    }
}
