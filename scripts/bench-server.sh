#!/usr/bin/env bash
# End-to-end ingest over loopback gRPC: starts a release `auditlogd` (durability always)
# on a fresh data directory, then `auditlog bench-ingest` of N events RUNS times as fast
# as the server answers, then RUNS times open-loop at half the median rate; prints every
# run and the medians (rate; ack latency p50 and p99 at half load).
# Usage: scripts/bench-server.sh [N=1000000] [RUNS=5] [FILE.jsonl] [BATCH=1000]
# (without FILE, `auditlog generate --count N --seed 1`).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${2:-5}"
file="${3:-}"
batch="${4:-1000}"
cargo build --release -p auditlog -p auditlogd >/dev/null 2>&1
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin=target/release
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
if [ -z "$file" ]; then
  file="$work/events.jsonl"
  "$bin/auditlog" generate --count "$n" --seed 1 > "$file"
fi
echo "workload: $file, $n events, batches of $batch"
start_server
url=$grpc
bench() {
  "$bin/auditlog" bench-ingest --server "$url" --key "$key" --file "$file" --events "$n" \
    --concurrency 64 --batch "$batch" "$@"
}
rates=()
for i in $(seq "$runs"); do
  out=$(bench)
  echo "full load run $i: $(tr '\n' ' ' <<<"$out")"
  rates+=("$(head -1 <<<"$out" | cut -d' ' -f1)")
done
full=$(printf '%s\n' "${rates[@]}" | median)
half=$((full / 2))
p50s=()
p99s=()
for i in $(seq "$runs"); do
  out=$(bench --rate "$half")
  echo "half load run $i: $(tr '\n' ' ' <<<"$out")"
  p50s+=("$(sed -nE 's/.*p50 ([0-9.]+) ms.*/\1/p' <<<"$out")")
  p99s+=("$(sed -nE 's/.*p99 ([0-9.]+) ms.*/\1/p' <<<"$out")")
done
echo "median full load: $full events/s"
echo "median at half load ($half events/s offered): ack p50 $(printf '%s\n' "${p50s[@]}" | median) ms, p99 $(printf '%s\n' "${p99s[@]}" | median) ms"
