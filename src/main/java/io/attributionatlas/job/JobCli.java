package io.attributionatlas.job;

import java.io.PrintStream;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Arguments of the job: {@code run --model DIR --input PATH --output PATH [--conf FILE] [--set key=value]...
 * [--run-id ID | --resume ID | --resume-or-start ID]}. The same entry point serves {@code scripts/atlas run}
 * (local mode) and spark-submit. {@code --resume ID} finishes the killed run ID: the same command with the same
 * input. {@code --resume-or-start ID} resumes run ID when it has an unfinished staging folder and starts it
 * otherwise: what a scheduler's retries pass (the Airflow DAG).
 */
public final class JobCli {

    public static final String USAGE = "run --model DIR --input PATH --output PATH [--conf FILE] [--set key=value]..."
            + " [--run-id ID | --resume ID | --resume-or-start ID]";

    private JobCli() {
    }

    /** Wrong arguments (as opposed to a bad input or configuration): answered with the usage. */
    static final class UsageError extends IllegalArgumentException {
        private static final long serialVersionUID = 1L;

        UsageError(String message) {
            super(message);
        }
    }

    /** Exit status: 0 done, 2 bad arguments or configuration, 1 failed. */
    public static int run(String[] args, PrintStream out, PrintStream err) {
        Map<String, String> overrides = new LinkedHashMap<>();
        Path confFile = null;
        String runId = null;
        String resume = null;
        String resumeOrStart = null;
        int start = args.length > 0 && args[0].equals("run") ? 1 : 0;
        try {
            for (int i = start; i < args.length; i++) {
                String a = args[i];
                if (i + 1 >= args.length) {
                    throw new UsageError("option " + a + " needs a value");
                }
                String v = args[++i];
                switch (a) {
                    case "--model" -> overrides.put("model.path", v);
                    case "--input" -> overrides.put("input.path", v);
                    case "--output" -> overrides.put("output.path", v);
                    case "--conf" -> confFile = Path.of(v);
                    case "--run-id" -> runId = v;
                    case "--resume" -> resume = v;
                    case "--resume-or-start" -> resumeOrStart = v;
                    case "--set" -> {
                        int eq = v.indexOf('=');
                        if (eq <= 0) {
                            throw new UsageError("--set needs key=value, got '" + v + "'");
                        }
                        overrides.put(v.substring(0, eq).trim(), v.substring(eq + 1));
                    }
                    default -> throw new UsageError("unknown option " + a);
                }
            }
            if ((runId != null ? 1 : 0) + (resume != null ? 1 : 0) + (resumeOrStart != null ? 1 : 0) > 1) {
                throw new UsageError("give one of --run-id, --resume and --resume-or-start");
            }
            JobConfig config = JobConfig.load(confFile, overrides);
            for (String[] required : new String[][] {{"model.path", "--model"}, {"input.path", "--input"},
                {"output.path", "--output"}}) {
                if (config.optional(required[0]) == null) {
                    throw new UsageError(required[1] + " is required (or " + required[0] + " in --conf)");
                }
            }
            AttributionJob.Result result;
            if (resumeOrStart != null) {
                result = AttributionJob.run(config, resumeOrStart, AttributionJob.unfinished(config, resumeOrStart), out);
            } else if (resume != null) {
                result = AttributionJob.run(config, resume, true, out);
            } else {
                result = AttributionJob.run(config, runId != null ? runId : AttributionJob.newRunId(), false, out);
            }
            JobSummary.print(result, out);
            return 0;
        } catch (UsageError e) {
            err.println("atlas run: " + e.getMessage());
            err.println("usage: atlas " + USAGE);
            return 2;
        } catch (IllegalArgumentException e) {
            err.println("atlas run: " + e.getMessage());
            return 2;
        } catch (io.attributionatlas.model.ModelException e) {
            err.println("atlas run: " + e.getMessage());
            return 2;
        }
    }
}
