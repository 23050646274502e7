package io.attributionatlas.job;

import io.attributionatlas.Fixtures;

/**
 * Runs the job's command line in this JVM, then prints the process's peak resident memory (VmHWM) as the last
 * line of standard output, {@code VmHWM_MB=N}: how a test measures a forked job.
 */
public final class PeakMemoryMain {

    private PeakMemoryMain() {
    }

    public static void main(String[] args) throws Exception {
        int status = JobCli.run(args, System.out, System.err);
        System.out.println("VmHWM_MB=" + Fixtures.procStatusMb("VmHWM:"));
        System.out.flush();
        Runtime.getRuntime().halt(status); // no shutdown hooks: Spark's would add nothing to measure
    }
}
