# Sourced by scripts/atlas, scripts/submit.sh and scripts/local-cluster: the native allocator of the JVMs that run
# libtorch (README, Memory). glibc keeps part of what libtorch frees: a long job's resident set grew by 0.5 MB
# (forward-only) to 1.3 MB (with a backward pass) for every 256-row pass, with no tensor leaked. jemalloc
# (Debian's libjemalloc2, installed by .ci/run and scripts/setup-native) kept the same loop flat at the same
# speed, so it is preloaded where it is installed. ATLAS_ALLOCATOR=glibc keeps glibc; ATLAS_ALLOCATOR=/path/to/lib.so
# names another library.
# Where glibc stays, two arenas instead of one per allocating thread keep its retained free blocks near the budget.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
ATLAS_PRELOAD=""
case "${ATLAS_ALLOCATOR:-jemalloc}" in
  glibc) ;;
  jemalloc)
    for candidate in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
        /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2; do
      if [[ -f "$candidate" ]]; then ATLAS_PRELOAD="$candidate"; break; fi
    done ;;
  *)
    if [[ ! -f "$ATLAS_ALLOCATOR" ]]; then
      echo "ATLAS_ALLOCATOR=$ATLAS_ALLOCATOR: no such file (glibc, jemalloc or a library's path)" >&2
      exit 2
    fi
    ATLAS_PRELOAD="$ATLAS_ALLOCATOR" ;;
esac
export ATLAS_PRELOAD
# jemalloc serves requests of 8 MB and more from an arena that returns their pages to the system at once, so every
# large tensor (a layer's [rows, H, S, S], ALTI's per-head terms) faults its pages in again: measured on the demo
# model, ALTI 12x, DecompX 2x and a forward pass 2x slower than under glibc. oversize_threshold:0 serves them from the
# ordinary arenas, which return unused pages after their decay time (10 s), as the rest. A MALLOC_CONF of one's own
# wins.
if [[ "$ATLAS_PRELOAD" == *jemalloc* ]]; then
  export MALLOC_CONF="${MALLOC_CONF:-oversize_threshold:0}"
fi
