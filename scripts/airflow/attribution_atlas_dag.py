"""Example Airflow DAG: the Attribution Atlas corpus job, once a day, through SparkSubmitOperator.

Idempotent per run: the output path contains the run id ({{ run_id }}), and the job is started with
--resume-or-start {{ run_id }}: a retry after a lost driver reuses every partition the failed attempt
finished (the run's ledger) and computes only the rest; a retry after a completed run replaces that
run's tables atomically. The spark-submit settings are those scripts/submit.sh adds, and the job arguments
have the form ClusterIT submits (AirflowDagTest checks both by executing this file).
Requires apache-airflow-providers-apache-spark and a Spark connection ("spark_default").
"""
import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

# Where the project is deployed: the application jar (`mvn -DskipTests package`) and conf/jvm.properties,
# the one list of JVM flags Spark needs on Java 17.
ATLAS_HOME = os.environ.get("ATLAS_HOME", "/opt/attribution-atlas")
APPLICATION_JAR = os.path.join(ATLAS_HOME, "attribution-atlas-0.1.0-SNAPSHOT-spark.jar")


def jvm_flags(path=os.path.join(ATLAS_HOME, "conf", "jvm.properties")):
    """The atlas.jvm.flags line of conf/jvm.properties."""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("atlas.jvm.flags="):
                return line.split("=", 1)[1].strip()
    raise ValueError(path + " has no atlas.jvm.flags line")


JVM_FLAGS = jvm_flags()
# the allocator scripts/lib/allocator.sh preloads (Debian's libjemalloc2)
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
# and its setting there: large tensors from the ordinary arenas (allocator.sh says why)
JEMALLOC_CONF = "oversize_threshold:0"
MODEL = "hdfs:///models/minilm-sst2"
CORPUS = "hdfs:///corpora/sst2/{{ ds }}"
OUTPUT = "hdfs:///atlas/runs/{{ run_id | replace(':', '-') | replace('+', '-') }}"

default_args = {
    "owner": "attribution-atlas",
    "retries": 2,
    "retry_delay": timedelta(minutes=10),
}

with DAG(
    dag_id="attribution_atlas_corpus",
    description="Integrated gradients, conductance of every layer and head statistics over a corpus",
    start_date=datetime(2026, 1, 1),
    schedule="@daily",
    catchup=False,
    default_args=default_args,
    tags=["attribution-atlas", "explainability"],
) as dag:
    explain_corpus = SparkSubmitOperator(
        task_id="explain_corpus",
        conn_id="spark_default",
        application=APPLICATION_JAR,
        java_class="io.attributionatlas.job.AttributionJob",
        name="attribution-atlas-{{ ds_nodash }}",
        conf={
            "spark.driver.extraJavaOptions": JVM_FLAGS,
            "spark.executor.extraJavaOptions": JVM_FLAGS,
            # as scripts/submit.sh: jemalloc (Debian's libjemalloc2 on the executors' machines; where it is
            # missing ld.so warns and glibc stays) keeps libtorch's freed memory from accumulating over a long
            # job, and two glibc arenas keep glibc's resident memory near engine.memory_mb
            "spark.executorEnv.LD_PRELOAD": JEMALLOC,
            "spark.executorEnv.MALLOC_CONF": JEMALLOC_CONF,
            "spark.executorEnv.MALLOC_ARENA_MAX": "2",
            "spark.task.cpus": "2",
            # native memory (libtorch, activations): 1 GB + model + 2 task slots x 2 x engine.memory_mb (README)
            "spark.executor.memoryOverhead": "9g",
        },
        executor_cores=4,
        executor_memory="8g",
        num_executors=8,
        application_args=[
            "run",
            "--model", MODEL,
            "--input", CORPUS,
            "--output", OUTPUT,
            "--resume-or-start", "{{ run_id }}",
            "--set", "input.text_column=sentence",
            "--set", "input.label_column=label",
            "--set", "level=full",
            "--set", "n_steps=50",
            # one PyTorch thread per task core: slots (4 cores / spark.task.cpus 2) x engine.threads = 4 cores
            "--set", "engine.threads=2",
        ],
    )
