package io.attributionatlas.cli;

import io.attributionatlas.attribution.AttributionMethod;
import io.attributionatlas.attribution.AttributionMethods;
import io.attributionatlas.attribution.MethodOption;
import io.attributionatlas.job.JobConfig;
import java.io.PrintStream;
import java.util.Set;

/**
 * {@code atlas methods}: the registered attribution methods with how they run, what they write and their options
 * (explain's flags and the job's keys), all from the methods' own declarations; {@code --conf} prints the options'
 * lines of conf/atlas.conf.
 */
final class MethodsCommand implements AtlasCli.Command {

    @Override
    public String usage() {
        return "methods [--conf true]";
    }

    @Override
    public int run(String[] args, PrintStream out, PrintStream err) {
        Arguments a = new Arguments(args, 1, Set.of("conf"));
        if (Boolean.parseBoolean(a.get("conf"))) {
            out.print(JobConfig.methodOptionLines());
            return 0;
        }
        for (AttributionMethod m : AttributionMethods.all()) {
            out.printf("%-24s %-12s %s%n", m.name(), m.passes().name().toLowerCase(java.util.Locale.ROOT),
                    m.summary());
            out.printf("%-24s %-12s outputs %s%n", "", "", String.join(", ", m.outputs()));
            for (MethodOption<?> o : m.options()) {
                out.printf("%-24s %-12s --%s / %s%s = %s (%s): %s%n", "", "", flag(o), JobConfig.METHOD_KEY_PREFIX,
                        o.key(), o.defaultText(), o.type(), o.doc());
            }
        }
        return 0;
    }

    /** explain's flag of a method option: its key with dashes. */
    static String flag(MethodOption<?> o) {
        return o.key().replace('_', '-');
    }

    /** The usage of every method option's flag, e.g. " [--occlusion-window N]". */
    static String optionUsage() {
        StringBuilder b = new StringBuilder();
        AttributionMethods.options().forEach(o -> b.append(" [--").append(flag(o)).append(' ')
                .append(o.metavar()).append(']'));
        return b.toString();
    }
}
