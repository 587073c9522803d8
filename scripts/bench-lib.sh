# What the server benchmarks share (sourced by scripts/bench-*.sh, which set `bin` and
# `work`): a release `auditlogd` started on a fresh data directory and stopped, and the
# median of numbers on stdin. AUDITLOGD=PATH runs another build of the server (an A/B);
# INIT_ARGS adds options to `auditlog init` (e.g. `--checkpoint-every 1`).

# Starts `auditlogd` on a fresh $work/data (durability always) on free loopback ports;
# sets server (its pid), grpc and http (URLs) and key (the bootstrap admin key).
start_server() {
  launch_server "$work"
}

# Starts `auditlogd` on a fresh DIR/data (durability always) on free loopback ports, with
# ARGS more of its options, its output in DIR/stdout and DIR/stderr; sets server, grpc,
# http and key as start_server does.
launch_server() {
  local dir=$1
  shift
  rm -rf "$dir/data"
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # INIT_ARGS: more `auditlog init` options, word-split.
  "$bin/auditlog" init --data "$dir/data" --durability always ${INIT_ARGS:-} >/dev/null
  "${AUDITLOGD:-$bin/auditlogd}" --data "$dir/data" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
    "$@" > "$dir/stdout" 2> "$dir/stderr" &
  server=$!
  for _ in $(seq 200); do
    grep -q 'HTTP listening' "$dir/stderr" 2>/dev/null && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
  done
  if ! grep -q 'HTTP listening' "$dir/stderr" 2>/dev/null; then
    echo "auditlogd did not start:" >&2
    cat "$dir/stderr" >&2
    exit 1
  fi
  grpc="http://$(sed -n 's/^auditlogd: gRPC listening on //p' "$dir/stderr")"
  http="http://$(sed -n 's/^auditlogd: HTTP listening on //p' "$dir/stderr")"
  key=$(sed -n 's/^admin key: //p' "$dir/stdout")
}

# Stops the server start_server started (SIGTERM) and waits for it.
stop_server() {
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
}

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
