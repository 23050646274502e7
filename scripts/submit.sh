#!/usr/bin/env bash
# spark-submit wrapper for the corpus job. Everything before "--" goes to spark-submit (master, deploy
# mode, resources), everything after it to the job:
#   scripts/submit.sh --master yarn --deploy-mode cluster --num-executors 8 --executor-cores 4 \
#     -- --model hdfs:///models/minilm-sst2 --input hdfs:///corpora/sst2 --output hdfs:///atlas/run-1 \
#        --set n_steps=50
# It adds the JVM flags from conf/jvm.properties to driver and executors, and the application jar
# (target/attribution-atlas-*-spark.jar, built by `mvn -DskipTests package` when missing). It runs
# $SPARK_SUBMIT, else spark-submit from the PATH, else Spark's SparkSubmit class from the project's class
# path (no Spark installation needed, e.g. --master local[2] or a standalone master).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SPARK_ARGS=()
while [[ $# -gt 0 && "$1" != "--" ]]; do SPARK_ARGS+=("$1"); shift; done
[[ $# -gt 0 ]] && shift
JAR="$(ls "$ROOT"/target/attribution-atlas-*-spark.jar 2>/dev/null | head -n 1 || true)"
if [[ -z "$JAR" ]]; then
  (cd "$ROOT" && mvn -B -q -DskipTests package >&2)
  JAR="$(ls "$ROOT"/target/attribution-atlas-*-spark.jar | head -n 1)"
fi
FLAGS="$(sed -n 's/^atlas\.jvm\.flags=//p' "$ROOT/conf/jvm.properties")"
# glibc gives each thread that allocates its own arena, and each arena keeps freed blocks: with libtorch's
# large tensors that multiplied resident memory. Two arenas keep it near the engine's budget (README, Memory).
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
if [[ -n "${SPARK_SUBMIT:-}" ]]; then
  SUBMIT=("$SPARK_SUBMIT")
elif command -v spark-submit >/dev/null 2>&1; then
  SUBMIT=(spark-submit)
else
  # No Spark installation: run spark-submit's own class, SparkSubmit, from Spark's jars in the project's
  # class path (the application jar brings our classes).
  [[ -f "$ROOT/target/runtime-classpath.txt" ]] || (cd "$ROOT" && mvn -B -q -DskipTests compile >&2)
  # shellcheck disable=SC2206 # FLAGS is a space-separated list of JVM options
  SUBMIT=(java $FLAGS -cp "$(cat "$ROOT/target/runtime-classpath.txt")" org.apache.spark.deploy.SparkSubmit)
fi
exec "${SUBMIT[@]}" --class io.attributionatlas.job.AttributionJob \
  --conf "spark.driver.extraJavaOptions=$FLAGS" --conf "spark.executor.extraJavaOptions=$FLAGS" \
  --conf "spark.executorEnv.MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX" \
  "${SPARK_ARGS[@]}" "$JAR" run "$@"
