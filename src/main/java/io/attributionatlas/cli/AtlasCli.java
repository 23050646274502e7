package io.attributionatlas.cli;

import io.attributionatlas.model.ModelException;
import java.io.PrintStream;
import java.util.Map;
import java.util.TreeMap;

/** Entry point of {@code scripts/atlas}: dispatches to one subcommand. */
public final class AtlasCli {

    /** One subcommand: runs with its options and returns the process exit status. */
    interface Command {
        String usage();

        int run(String[] args, PrintStream out, PrintStream err) throws Exception;
    }

    /** Exit statuses of every command: 0 done, 1 the work failed, 2 bad arguments, input, model or configuration. */
    static final int EXIT_USAGE = 2;

    private static final Map<String, Command> COMMANDS = new TreeMap<>(Map.ofEntries(
            Map.entry("inspect", new InspectCommand()),
            Map.entry("predict", new PredictCommand()),
            Map.entry("explain", new ExplainCommand()),
            Map.entry("bench-forward", new BenchForwardCommand()),
            Map.entry("bench", new BenchCommand()),
            Map.entry("bench-neighbors", new NeighborsBenchCommand()),
            Map.entry("bench-job", new JobBenchCommand()),
            Map.entry("convergence", new ConvergenceCommand()),
            Map.entry("run", new RunCommand()),
            Map.entry("report", new ReportCommand()),
            Map.entry("compare", new CompareCommand()),
            Map.entry("neighbors", new NeighborsCommand()),
            Map.entry("methods", new MethodsCommand())));

    private AtlasCli() {
    }

    public static void main(String[] args) {
        System.exit(run(args, System.out, System.err));
    }

    public static int run(String[] args, PrintStream out, PrintStream err) {
        if (args.length == 0 || args[0].equals("--help") || args[0].equals("help")) {
            (args.length == 0 ? err : out).println(usage());
            return args.length == 0 ? EXIT_USAGE : 0;
        }
        Command command = COMMANDS.get(args[0]);
        if (command == null) {
            err.println("atlas: unknown command '" + args[0] + "'");
            err.println(usage());
            return EXIT_USAGE;
        }
        if (java.util.Arrays.asList(args).subList(1, args.length).stream().anyMatch(a -> a.equals("--help")
                || a.equals("-h"))) {
            out.println("usage: atlas " + command.usage());
            return 0;
        }
        try {
            return command.run(args, out, err);
        } catch (UsageException e) {
            err.println("atlas " + args[0] + ": " + e.getMessage());
            err.println("usage: atlas " + command.usage());
            return EXIT_USAGE;
        } catch (ModelException | IllegalArgumentException e) { // a bad model, input or option value
            err.println("atlas " + args[0] + ": " + e.getMessage());
            return EXIT_USAGE;
        } catch (Exception e) {
            err.println("atlas " + args[0] + ": " + e);
            return 1;
        }
    }

    /** The commands' names. */
    static java.util.Set<String> commands() {
        return COMMANDS.keySet();
    }

    static String usage() {
        StringBuilder sb = new StringBuilder("usage: atlas COMMAND [OPTIONS]\n\ncommands:\n");
        COMMANDS.forEach((name, c) -> sb.append("  ").append(c.usage()).append('\n'));
        return sb.toString().stripTrailing();
    }
}
