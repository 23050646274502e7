#!/usr/bin/env bash
# spark-submit wrapper for the corpus job; `scripts/submit.sh --help` shows complete cluster examples.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/lib/mvn.sh"
usage() {
  cat <<'USAGE'
usage: scripts/submit.sh [spark-submit options] -- JOB ARGUMENTS
  Everything before "--" goes to spark-submit (master, deploy mode, resources), everything after it to the
  job: --model URI --input URI --output URI [--conf FILE] [--set key=value]... [--run-id ID | --resume ID].
  The script adds the application jar (target/attribution-atlas-*-spark.jar, built by
  `mvn -DskipTests package` when missing), the JVM flags of conf/jvm.properties for driver and executors
  (Java 17 needs them), and the native allocator for driver and executors: jemalloc (LD_PRELOAD) where
  /usr/lib/*/libjemalloc.so.2 is installed here, which the executors' machines then need too (else ld.so
  warns and keeps glibc; ATLAS_ALLOCATOR=glibc sets none), and MALLOC_ARENA_MAX=2 for glibc.
  It runs $SPARK_SUBMIT, else spark-submit
  from the PATH, else Spark's SparkSubmit class from the project's class path (no Spark installation
  needed: local[N] or a standalone master such as scripts/local-cluster's).

Sizing, per executor: each task slot (executor cores / spark.task.cpus) runs one engine pass at a time with
engine.threads PyTorch threads (0 = spark.task.cpus), so give slots x engine.threads = executor cores.
Native memory (libtorch, activations) lives outside the heap: spark.executor.memoryOverhead >=
1 GB + model size + slots x 2 x engine.memory_mb (auto: 2048 on a CPU). Heap: >= 1 GB + slots x 0.5 GB.
A model given as a URI (hdfs://, s3a://, file:///shared/dir) is copied once per machine and checked
against the driver's fingerprint. A killed run is finished by the same command with --resume RUN_ID.

Standalone (scripts/local-cluster start prints such a master URL):
  scripts/submit.sh --master spark://127.0.0.1:7077 --driver-memory 1g \
    --executor-memory 3g --executor-cores 4 --total-executor-cores 8 \
    --conf spark.task.cpus=2 --conf spark.executor.memoryOverhead=6g \
    -- --model file:///models/minilm-sst2 --input /data/sst2.csv --output /data/atlas/run-1 \
       --set input.text_column=sentence --set engine.threads=2 --set engine.memory_mb=1024

YARN (cluster deploy mode; the driver runs in the cluster, so every path is a cluster URI):
  scripts/submit.sh --master yarn --deploy-mode cluster --num-executors 8 --executor-cores 4 \
    --executor-memory 8g --conf spark.task.cpus=2 --conf spark.executor.memoryOverhead=9g \
    -- --model hdfs:///models/minilm-sst2 --input hdfs:///corpora/sst2 --output hdfs:///atlas/run-1 \
       --set input.text_column=sentence --set engine.threads=2

Kubernetes (an image holding Java 17; the jar is uploaded by spark-submit or baked into the image):
  SPARK_SUBMIT=/opt/spark/bin/spark-submit scripts/submit.sh \
    --master k8s://https://kube-api:6443 --deploy-mode cluster \
    --conf spark.kubernetes.container.image=registry/spark:4.1.0-java17 \
    --conf spark.kubernetes.file.upload.path=s3a://bucket/spark-upload \
    --conf spark.executor.instances=8 --conf spark.executor.cores=4 --conf spark.task.cpus=2 \
    --conf spark.executor.memory=8g --conf spark.executor.memoryOverhead=9g \
    -- --model s3a://bucket/models/minilm-sst2 --input s3a://bucket/corpora/sst2 \
       --output s3a://bucket/atlas/run-1 --set engine.threads=2
  (On S3 the staging folder's renames are copies: put --output on HDFS or a file system with atomic
  renames when runs may be resumed.)

GPUs (the jar from mvn -Pcuda -DskipTests package, CUDA libtorch on the executors): add
  --conf spark.executor.resource.gpu.amount=1 --conf spark.task.resource.gpu.amount=0.25
  --conf spark.executor.resource.gpu.discoveryScript=$SPARK_HOME/examples/src/main/scripts/getGpusResources.sh
  --conf spark.executorEnv.PYTORCH_FLAVOR=cu128 (or PYTORCH_LIBRARY_PATH/PYTORCH_VERSION for an installed one)
  and -- --set engine.device=gpu: four tasks share each executor's GPU and its model, engine.memory_mb auto
  splits the GPU's free memory between them, batch.samples auto gives passes of thousands of rows;
  --set engine.precision=tf32 also needs --conf spark.executorEnv.TORCH_ALLOW_TF32_CUBLAS_OVERRIDE=1.
  See README, "GPUs".
USAGE
}
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then usage; exit 0; fi
SPARK_ARGS=()
while [[ $# -gt 0 && "$1" != "--" ]]; do SPARK_ARGS+=("$1"); shift; done
[[ $# -gt 0 ]] && shift
JAR="$(ls "$ROOT"/target/attribution-atlas-*-spark.jar 2>/dev/null | head -n 1 || true)"
if [[ -z "$JAR" ]]; then
  (cd "$ROOT" && quiet_mvn -DskipTests package)
  JAR="$(ls "$ROOT"/target/attribution-atlas-*-spark.jar | head -n 1)"
fi
FLAGS="$(sed -n 's/^atlas\.jvm\.flags=//p' "$ROOT/conf/jvm.properties")"
# jemalloc where installed, else glibc with two arenas, for the driver and (the same path) the executors (README, Memory)
source "$ROOT/scripts/lib/allocator.sh"
ALLOCATOR_CONF=(--conf "spark.executorEnv.MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX")
if [[ -n "$ATLAS_PRELOAD" ]]; then
  export LD_PRELOAD="$ATLAS_PRELOAD${LD_PRELOAD:+:$LD_PRELOAD}"
  ALLOCATOR_CONF+=(--conf "spark.executorEnv.LD_PRELOAD=$ATLAS_PRELOAD")
  [[ -n "${MALLOC_CONF:-}" ]] && ALLOCATOR_CONF+=(--conf "spark.executorEnv.MALLOC_CONF=$MALLOC_CONF")
fi
if [[ -n "${SPARK_SUBMIT:-}" ]]; then
  SUBMIT=("$SPARK_SUBMIT")
elif command -v spark-submit >/dev/null 2>&1; then
  SUBMIT=(spark-submit)
else
  # No Spark installation: run spark-submit's own class, SparkSubmit, from Spark's jars in the project's
  # class path (the application jar brings our classes).
  [[ -f "$ROOT/target/runtime-classpath.txt" ]] || (cd "$ROOT" && quiet_mvn -DskipTests compile)
  # This JVM is the driver in client mode: --driver-memory sizes its heap, as spark-submit's launcher does.
  HEAP=()
  for ((i = 0; i < ${#SPARK_ARGS[@]} - 1; i++)); do
    [[ "${SPARK_ARGS[i]}" == "--driver-memory" ]] && HEAP=("-Xmx${SPARK_ARGS[i + 1]}")
  done
  # shellcheck disable=SC2206 # FLAGS is a space-separated list of JVM options
  SUBMIT=(java "${HEAP[@]}" $FLAGS -cp "$(cat "$ROOT/target/runtime-classpath.txt")" org.apache.spark.deploy.SparkSubmit)
fi
exec "${SUBMIT[@]}" --class io.attributionatlas.job.AttributionJob \
  --conf "spark.driver.extraJavaOptions=$FLAGS" --conf "spark.executor.extraJavaOptions=$FLAGS" \
  "${ALLOCATOR_CONF[@]}" \
  "${SPARK_ARGS[@]}" "$JAR" run "$@"
