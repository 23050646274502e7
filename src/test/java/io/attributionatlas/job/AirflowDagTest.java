package io.attributionatlas.job;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonArray;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import io.attributionatlas.Fixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The example Airflow DAG, executed by python3 with stand-ins for Airflow's DAG and SparkSubmitOperator that
 * record what it would submit: the job's main class; the spark-submit settings scripts/submit.sh adds (the JVM
 * flags of conf/jvm.properties for driver and executors, MALLOC_ARENA_MAX=2 for executors); job arguments of the
 * form ClusterIT submits, resuming on retries (--resume-or-start with the run id, which is in the output path),
 * with the same column settings as the tests, and every --set key valid.
 */
class AirflowDagTest {

    static final Path DAG = Path.of("scripts/airflow/attribution_atlas_dag.py");

    private static final String STANDIN = String.join("\n",
            "import json, os, sys, types",
            "submitted = {}",
            "class DAG:",
            "    def __init__(self, **kw): pass",
            "    def __enter__(self): return self",
            "    def __exit__(self, *a): return False",
            "class SparkSubmitOperator:",
            "    def __init__(self, **kw): submitted.update(kw)",
            "for name in ['airflow', 'airflow.providers', 'airflow.providers.apache', 'airflow.providers.apache.spark',",
            "             'airflow.providers.apache.spark.operators',",
            "             'airflow.providers.apache.spark.operators.spark_submit']:",
            "    sys.modules[name] = types.ModuleType(name)",
            "sys.modules['airflow'].DAG = DAG",
            "sys.modules['airflow.providers.apache.spark.operators.spark_submit'].SparkSubmitOperator = "
                    + "SparkSubmitOperator",
            "os.environ['ATLAS_HOME'] = sys.argv[2]",
            "exec(compile(open(sys.argv[1]).read(), sys.argv[1], 'exec'), {'__name__': 'dag'})",
            "print(json.dumps({k: submitted[k] for k in ['java_class', 'conf', 'application_args', 'application']}))");

    @Test
    void dagSubmitsWhatTheScriptsAndTestsSubmit() throws Exception {
        Process p = new ProcessBuilder("python3", "-c", STANDIN, DAG.toString(), Path.of("").toAbsolutePath()
                .toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes()).strip();
        assertEquals(0, p.waitFor(), out);
        JsonObject submitted = JsonParser.parseString(out.substring(out.lastIndexOf('\n') + 1)).getAsJsonObject();
        assertEquals(AttributionJob.class.getName(), submitted.get("java_class").getAsString());
        assertTrue(submitted.get("application").getAsString().endsWith("-spark.jar"), "the shaded jar");

        JsonObject conf = submitted.getAsJsonObject("conf");
        String flags = Fixtures.jvmFlags();
        assertEquals(flags, conf.get("spark.driver.extraJavaOptions").getAsString());
        assertEquals(flags, conf.get("spark.executor.extraJavaOptions").getAsString());
        String submitScript = Files.readString(Path.of("scripts/submit.sh"));
        String allocator = Files.readString(Path.of("scripts/lib/allocator.sh"));
        assertTrue(allocator.contains("MALLOC_ARENA_MAX=\"${MALLOC_ARENA_MAX:-2}\"")
                && submitScript.contains("spark.executorEnv.MALLOC_ARENA_MAX")
                && submitScript.contains("spark.executorEnv.LD_PRELOAD"), "what submit.sh sets");
        assertEquals("2", conf.get("spark.executorEnv.MALLOC_ARENA_MAX").getAsString());
        String jemalloc = conf.get("spark.executorEnv.LD_PRELOAD").getAsString();
        assertTrue(allocator.contains(jemalloc), "the DAG preloads the library allocator.sh looks for: " + jemalloc);
        String jemallocConf = conf.get("spark.executorEnv.MALLOC_CONF").getAsString();
        assertTrue(allocator.contains("MALLOC_CONF=\"${MALLOC_CONF:-" + jemallocConf + "}\"")
                && submitScript.contains("spark.executorEnv.MALLOC_CONF"), "the DAG sets jemalloc as allocator.sh does");

        List<String> args = new ArrayList<>();
        JsonArray array = submitted.getAsJsonArray("application_args");
        array.forEach(a -> args.add(a.getAsString()));
        assertEquals("run", args.get(0));
        Map<String, String> options = new LinkedHashMap<>();
        Map<String, String> sets = new LinkedHashMap<>();
        for (int i = 1; i < args.size(); i += 2) {
            if (args.get(i).equals("--set")) {
                String[] kv = args.get(i + 1).split("=", 2);
                sets.put(kv[0], kv[1]);
            } else {
                options.put(args.get(i), args.get(i + 1));
            }
        }
        assertEquals(List.of("--model", "--input", "--output", "--resume-or-start"), List.copyOf(options.keySet()));
        assertEquals("{{ run_id }}", options.get("--resume-or-start"), "retries resume the DAG run's own run");
        assertTrue(options.get("--output").contains("{{ run_id"), "the run id is in the output path");
        // The column settings the tests' demo-corpus runs (JobRuns.demoArgs, ClusterIT) use.
        List<String> testArgs = JobRuns.demoArgs("m", Path.of("i"), Path.of("o"));
        for (String set : List.of("input.text_column=sentence", "input.label_column=label")) {
            assertTrue(testArgs.contains(set), set);
            assertEquals(set.split("=")[1], sets.get(set.split("=")[0]), set);
        }
        JobConfig.load(null, sets); // every key exists and every value is valid
    }
}
