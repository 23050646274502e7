# Sourced by the scripts that build: Maven quiet and in batch mode, its output on stderr without the escape codes
# Debian's Maven 3.8 writes even in batch mode (ESC[0m), a line every 30 s while it works (the first build downloads
# the dependencies, a few minutes), and its exit status kept.
quiet_mvn() {
  local started=$SECONDS ticker status
  (while sleep 30; do echo "  ... still building ($((SECONDS - started)) s)" >&2; done) &
  ticker=$!
  mvn -B -q "$@" 2>&1 | sed -u $'s/\x1b\\[[0-9;]*m//g' >&2
  status=${PIPESTATUS[0]}
  kill "$ticker" 2>/dev/null
  wait "$ticker" 2>/dev/null || true
  return "$status"
}
