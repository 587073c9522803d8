#!/usr/bin/env bash
# Sinks beside ingest, in the same run (docs/BENCHMARKS.md, "Sinks"): a release
# `auditlogd` (durability always, a fresh data directory each time) loaded by
# `auditlog bench-ingest` over gRPC on the same machine, in turn:
#   none    no sink: the full ingest rate;
#   dead    ten dead sinks of every tenant (five to a closed port, five to a receiver
#           that never answers): ingest must not slow;
#   full    one sink to a local receiver that acknowledges at once, ingest as fast as
#           the server answers: how fast the sink drains;
#   half    the same sink, ingest offered at half the full rate (open loop): whether
#           the sink keeps up, and its lag (auditlog_sink_lag_events, sampled every
#           0.2 s).
# full and half run for each kind of sink in SINKS (default `webhook`): `webhook`,
# `proofs` (a webhook with batches with proofs), `otlp-http` (OTLP/HTTP protobuf; the
# receiver acknowledges without decoding).
# Prints every run and the medians.
# Usage: [SINKS="webhook proofs otlp-http"] scripts/bench-sinks.sh [N=1000000] [ROUNDS=3]
#        [BATCH=1000] [CONCURRENCY=32]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
rounds="${2:-3}"
batch="${3:-1000}"
concurrency="${4:-32}"
kinds="${SINKS:-webhook}"
cargo build --release -p auditlog -p auditlogd >/dev/null 2>&1
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin=target/release
work=$(mktemp -d)
pids=()
server=""
sampler=""
trap 'kill ${pids[@]+"${pids[@]}"} $server $sampler 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
"$bin/auditlog" generate --count "$n" --seed 1 > "$work/events.jsonl"
python3 scripts/sink-receiver.py ack "$work/ack.port" & pids+=($!)
python3 scripts/sink-receiver.py stall "$work/stall.port" & pids+=($!)
for _ in $(seq 50); do [ -s "$work/ack.port" ] && [ -s "$work/stall.port" ] && break; sleep 0.1; done
ack="http://127.0.0.1:$(cat "$work/ack.port")/hook"
stall="http://127.0.0.1:$(cat "$work/stall.port")/hook"
closed="http://127.0.0.1:9/hook"
echo "workload: $n events; batches of $batch, $concurrency in flight"
now() { date +%s.%N; }
# destination KIND URL: the spec's destination member.
destination() {
  case "$1" in
    webhook) echo "\"webhook\":{\"url\":\"$2\"}" ;;
    proofs) echo "\"webhook\":{\"url\":\"$2\",\"proofs\":true}" ;;
    otlp-http) echo "\"otlp\":{\"url\":\"$2\",\"protocol\":\"http_protobuf\"}" ;;
    *) echo "unknown sink kind $1" >&2; exit 2 ;;
  esac
}
# sink KIND URL: a sink of every tenant from the log's end, batches of 1000; prints its id.
sink() {
  curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d "{\"spec\":{\"name\":\"bench\",\"scope\":{\"all_tenants\":true},$(destination "$1" "$2"),\"batch_size\":1000}}" \
    "$http/v1/sinks" | python3 -c 'import json,sys; print(json.load(sys.stdin)["sink"]["id"])'
}
metric() { curl -sf -H "Authorization: Bearer $key" "$http/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# ingest [RATE]: prints the ingest rate achieved.
ingest() {
  "$bin/auditlog" bench-ingest --server "$grpc" --key "$key" --file "$work/events.jsonl" \
    --events "$n" --batch "$batch" --concurrency "$concurrency" ${1:+--rate "$1"} \
    | head -1 | cut -d' ' -f1
}
# run_with_sink RATE KIND: ingest (at RATE, or full speed) with one live sink; sets result
# to "ingest_rate delivery_rate max_lag median_lag drain_seconds". (Run in this shell,
# not in $(…): the EXIT trap must see the server and the sampler.)
run_with_sink() {
  start_server
  local id; id=$(sink "$2" "$ack")
  [ -n "$id" ] || { echo "no sink made: $(cat "$work/stderr")" >&2; exit 1; }
  local lags="$work/lags"; : > "$lags"
  ( while :; do metric "auditlog_sink_lag_events{sink=\"$id\"}" >> "$lags"; sleep 0.2; done ) &
  sampler=$!
  local rate; rate=$(ingest "$1")
  local t1; t1=$(now)
  # Drained: the sink's cursor at the log's end (given up after ten minutes).
  local deadline=$((SECONDS + 600))
  until [ "$(metric "auditlog_sink_lag_events{sink=\"$id\"}")" = 0 ]; do
    [ "$SECONDS" -lt "$deadline" ] || { echo "the sink did not drain" >&2; exit 1; }
    sleep 0.05
  done
  local t2; t2=$(now)
  kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=""
  local delivered; delivered=$(metric "auditlog_sink_delivered_events_total{sink=\"$id\"}")
  local maxlag; maxlag=$(sort -g "$lags" | tail -1)
  local medlag; medlag=$(median < "$lags")
  stop_server
  # Delivery over the ingest's own time (N / its rate: the load generator's setup
  # before its clock starts is not the sink's; its exit after the clock stops is
  # counted as drain, which understates the drain by a few ms) and the drain after it.
  result=$(awk -v n="$n" -v r="$rate" -v d="$delivered" -v t1="$t1" -v t2="$t2" -v mx="$maxlag" -v md="$medlag" \
    'BEGIN {printf "%d %d %d %d %.2f\n", r, d / (n / r + t2 - t1), mx, md, t2 - t1}')
}
declare -A runs
for round in $(seq "$rounds"); do
  start_server; none=$(ingest); stop_server
  start_server
  for _ in 1 2 3 4 5; do sink webhook "$closed" >/dev/null; sink webhook "$stall" >/dev/null; done
  dead=$(ingest); stop_server
  echo "round $round: none $none; ten dead sinks $dead"
  runs[none]+=" $none"; runs[dead]+=" $dead"
  half=$((none / 2))
  for kind in $kinds; do
    run_with_sink "" "$kind"
    read -r f_ingest f_deliver f_max f_med f_drain <<<"$result"
    run_with_sink "$half" "$kind"
    read -r h_ingest h_deliver h_max h_med h_drain <<<"$result"
    echo "  $kind: full: ingest $f_ingest, delivery $f_deliver, drain ${f_drain}s after, lag max $f_max; half ($half offered): ingest $h_ingest, delivery $h_deliver, drain ${h_drain}s after, lag max $h_max median $h_med"
    runs[$kind.f_deliver]+=" $f_deliver"; runs[$kind.f_ingest]+=" $f_ingest"; runs[$kind.f_drain]+=" $f_drain"
    runs[$kind.h_ingest]+=" $h_ingest"; runs[$kind.h_deliver]+=" $h_deliver"; runs[$kind.h_max]+=" $h_max"
    runs[$kind.h_med]+=" $h_med"; runs[$kind.h_drain]+=" $h_drain"
  done
done
keys="none dead"
for kind in $kinds; do
  for k in f_ingest f_deliver f_drain h_ingest h_deliver h_drain h_max h_med; do keys+=" $kind.$k"; done
done
for k in $keys; do
  echo "median $k: $(tr ' ' '\n' <<<"${runs[$k]}" | grep . | median) (runs:${runs[$k]})"
done
