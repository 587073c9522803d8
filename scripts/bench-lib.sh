# What the server benchmarks share (sourced by scripts/bench-*.sh, which set `bin` and
# `work`): a release `auditlogd` started on a fresh data directory and stopped, and the
# median of numbers on stdin. AUDITLOGD=PATH runs another build of the server (an A/B);
# INIT_ARGS adds options to `auditlog init` (e.g. `--checkpoint-every 1`).

# Starts `auditlogd` on a fresh $work/data (durability always) on free loopback ports;
# sets server (its pid), grpc and http (URLs) and key (the bootstrap admin key).
start_server() {
  rm -rf "$work/data"
  # shellcheck disable=SC2086 # INIT_ARGS: more `auditlog init` options, word-split.
  "$bin/auditlog" init --data "$work/data" --durability always ${INIT_ARGS:-} >/dev/null
  "${AUDITLOGD:-$bin/auditlogd}" --data "$work/data" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
    > "$work/stdout" 2> "$work/stderr" &
  server=$!
  for _ in $(seq 100); do
    grep -q 'HTTP listening' "$work/stderr" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'HTTP listening' "$work/stderr" 2>/dev/null; then
    echo "auditlogd did not start:" >&2
    cat "$work/stderr" >&2
    exit 1
  fi
  grpc="http://$(sed -n 's/^auditlogd: gRPC listening on //p' "$work/stderr")"
  http="http://$(sed -n 's/^auditlogd: HTTP listening on //p' "$work/stderr")"
  key=$(sed -n 's/^admin key: //p' "$work/stdout")
}

# Stops the server start_server started (SIGTERM) and waits for it.
stop_server() {
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
