#!/usr/bin/env bash
# Every way in, on the same events in the same run: `auditlog ingest` in one process,
# then a release `auditlogd` (durability always, a fresh data directory each time) loaded
# by `auditlog bench-ingest` on the same machine through gRPC `Ingest`, NDJSON over
# `POST /v1/events`, OTLP/gRPC and OTLP/HTTP (protobuf), as fast as it answers. The
# ways take turns within each round; prints every run, the medians and each way's
# ratio to the in-process rate.
# Usage: scripts/bench-capture.sh [N=1000000] [ROUNDS=3] [BATCH=1000] [CONCURRENCY=32]
# (WAYS="in-process otlp-http" runs only those; in-process is the base of the ratios.)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
rounds="${2:-3}"
batch="${3:-1000}"
concurrency="${4:-32}"
cargo build --release -p auditlog -p auditlogd >/dev/null 2>&1
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin=target/release
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/auditlog" generate --count "$n" --seed 1 > "$work/events.jsonl"
echo "workload: $n events, $(stat -c %s "$work/events.jsonl") bytes; batches of $batch, $concurrency in flight"
in_process() {
  rm -rf "$work/data"
  "$bin/auditlog" init --data "$work/data" --durability always >/dev/null
  "$bin/auditlog" ingest --data "$work/data" "$work/events.jsonl" 2>&1 | grep '^ingested' \
    | sed -E 's/.*\(([0-9]+) events\/s\).*/\1/'
}
# through PROTOCOL: starts a server, loads it, stops it; prints the rate.
through() {
  start_server
  local url
  case "$1" in grpc|otlp-grpc) url=$grpc ;; *) url=$http ;; esac
  "$bin/auditlog" bench-ingest --server "$url" --key "$key" --file "$work/events.jsonl" \
    --events "$n" --batch "$batch" --concurrency "$concurrency" --protocol "$1" | head -1 | cut -d' ' -f1
  stop_server
}
read -r -a ways <<<"${WAYS:-in-process grpc ndjson otlp-grpc otlp-http}"
declare -A rates
for round in $(seq "$rounds"); do
  for way in "${ways[@]}"; do
    if [ "$way" = in-process ]; then rate=$(in_process); else rate=$(through "$way"); fi
    echo "round $round, $way: $rate events/s"
    rates[$way]="${rates[$way]:-} $rate"
  done
done
# The ratios need the in-process runs; without them (WAYS lacks it) only the medians.
base=$(tr ' ' '\n' <<<"${rates[in-process]:-}" | { grep . || true; } | median)
for way in "${ways[@]}"; do
  m=$(tr ' ' '\n' <<<"${rates[$way]}" | grep . | median)
  ratio=$([ -n "$base" ] && awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}' || echo "?")
  echo "median $way: $m events/s ($ratio of in-process; runs:${rates[$way]})"
done
