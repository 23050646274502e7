package io.attributionatlas.job;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Runs the job's command line in this JVM, then prints the process's peak resident memory (VmHWM) as the last
 * line of standard output, {@code VmHWM_MB=N}: how a test measures a forked job.
 */
public final class PeakMemoryMain {

    private PeakMemoryMain() {
    }

    public static void main(String[] args) throws Exception {
        int status = JobCli.run(args, System.out, System.err);
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmHWM:")) {
                System.out.println("VmHWM_MB=" + Long.parseLong(line.replaceAll("[^0-9]", "")) / 1024);
            }
        }
        System.out.flush();
        Runtime.getRuntime().halt(status); // no shutdown hooks: Spark's would add nothing to measure
    }
}
