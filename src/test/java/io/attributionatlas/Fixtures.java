package io.attributionatlas;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/** Paths of the shared test fixtures (../shared beside the project, or -Datlas.shared=DIR). */
public final class Fixtures {

    private Fixtures() {
    }

    public static Path shared() {
        Path p = Path.of(System.getProperty("atlas.shared", "../shared")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p.resolve("golden"))) {
            throw new IllegalStateException("shared fixtures not found at " + p
                    + " (check out ../shared beside the project or pass -Datlas.shared=DIR)");
        }
        return p;
    }

    public static Path realModel() {
        return shared().resolve("models/minilm-sst2");
    }

    public static Path golden(String name) {
        return shared().resolve("golden").resolve(name);
    }

    /** The JVM flags every Attribution Atlas JVM gets (conf/jvm.properties), for tests that fork a JVM. */
    public static String jvmFlags() throws java.io.IOException {
        for (String l : Files.readAllLines(Path.of("conf/jvm.properties"))) {
            if (l.startsWith("atlas.jvm.flags=")) {
                return l.substring("atlas.jvm.flags=".length()).trim();
            }
        }
        throw new IllegalStateException("conf/jvm.properties has no atlas.jvm.flags");
    }

    /** A memory line of /proc/self/status (VmRSS:, VmHWM:, …) in MiB, for tests that measure memory. */
    public static long procStatusMb(String key) throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024;
            }
        }
        throw new IllegalStateException("/proc/self/status has no " + key);
    }

    /** What a forked JVM printed (standard output and error) and its exit status. */
    public record Forked(int status, String output) {
    }

    /**
     * Runs {@code main} in a new JVM with the test class path, the project's JVM flags and {@code jvmOptions},
     * waiting at most {@code minutes}: how tests measure a process's own memory.
     */
    public static Forked fork(List<String> jvmOptions, Class<?> main, List<String> args, int minutes)
            throws java.io.IOException, InterruptedException {
        List<String> command = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin",
                "java").toString()));
        command.addAll(jvmOptions);
        command.addAll(List.of(jvmFlags().split("\\s+")));
        command.addAll(List.of("-cp", System.getProperty("java.class.path"), main.getName()));
        command.addAll(args);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            String output = new String(process.getInputStream().readAllBytes(),
                    java.nio.charset.StandardCharsets.UTF_8);
            if (!process.waitFor(minutes, java.util.concurrent.TimeUnit.MINUTES)) {
                throw new IllegalStateException(main.getSimpleName() + " did not finish in " + minutes + " min");
            }
            return new Forked(process.exitValue(), output);
        } finally {
            process.destroyForcibly();
        }
    }
}
