package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** The example Airflow DAG is valid Python and submits the job's main class with a run-id output path. */
class AirflowDagTest {

    static final Path DAG = Path.of("scripts/airflow/attribution_atlas_dag.py");

    @Test
    void dagCompiles() throws Exception {
        Process p = new ProcessBuilder("python3", "-c", "import ast, sys; ast.parse(open(sys.argv[1]).read(), sys.argv[1])",
                DAG.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        String dag = Files.readString(DAG);
        assertTrue(dag.contains("SparkSubmitOperator") && dag.contains("io.attributionatlas.job.AttributionJob"));
        assertTrue(dag.contains("{{ run_id") && dag.contains("\"retries\""), "run id in the output path, retries");
        assertTrue(dag.contains("jvm.properties"), "JVM flags come from conf/jvm.properties");
    }
}
