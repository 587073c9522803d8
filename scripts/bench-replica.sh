#!/usr/bin/env bash
# A read replica on this machine (docs/SCALING.md, "Read replicas"): release `auditlogd`
# primary (durability always, archiving to a file:// archive while it takes a first
# load, then restarted without --archive so that archiving shares no core with what is
# timed) and a replica made by `auditlog restore` of that archive, both on this
# machine's two cores. Each round:
#   1. catch-up: N events loaded into the primary while the replica is stopped, then the
#      replica started; the time until it keeps the primary's newest checkpoint, as
#      events per second taken;
#   2. following: N more events loaded while the replica runs (polling every
#      EVERY_MS); the primary's ingest rate beside it, the replica's largest lag in
#      events (GET /v1/replica every 0.2 s) during the load, and the time after the
#      load until it is caught up;
#   3. the primary's ingest rate for N events with no replica, the base of the ratio.
# Usage: scripts/bench-replica.sh [N=1000000] [ROUNDS=3] [BATCH=1000] [CONCURRENCY=32]
#        (EVERY_MS=1000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
rounds="${2:-3}"
batch="${3:-1000}"
concurrency="${4:-32}"
every="${EVERY_MS:-1000}"
cargo build --release -p auditlog -p auditlogd >/dev/null 2>&1
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin=target/release
work=$(mktemp -d)
replica=""
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  [ -n "$replica" ] && kill "$replica" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$bin/auditlog" generate --count "$((2 * n))" --seed 1 > "$work/events.jsonl"
head -n "$n" "$work/events.jsonl" > "$work/first.jsonl"
tail -n "$n" "$work/events.jsonl" > "$work/second.jsonl"
# 16 MiB segments: the archive holds some of the first load before the replica starts;
# a checkpoint signed every second (a replica follows the checkpoints its primary
# publishes).
export INIT_ARGS="--segment-bytes 16777216 --checkpoint-every 1"
echo "workload: $n events a load, batches of $batch, $concurrency in flight; replica polls every $every ms"

# Loads FILE (its first EVENTS, default N) into the primary; prints the rate.
load() {
  "$bin/auditlog" bench-ingest --server "$grpc" --key "$key" --file "$1" \
    --events "${2:-$n}" --batch "$batch" --concurrency "$concurrency" | head -1 | cut -d' ' -f1
}

# The replica's state (GET /v1/replica) as "kept primary lag_events".
replica_state() {
  local state
  state=$(curl -sf -H "authorization: Bearer $key" "$replica_http/v1/replica") || return 1
  for field in kept_tree_size primary_tree_size lag_events; do
    sed -E "s/.*\"$field\":([0-9]+).*/\1/" <<<"$state"
  done | paste -sd' '
}

# Restarts the primary on its data directory without --archive: the archive made the
# replica's directory; archiving later loads would share the two cores with what is
# timed (segments and their Parquet are written by a thread of the primary's).
restart_primary() {
  stop_server
  "$bin/auditlogd" --data "$work/primary/data" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
    > "$work/primary/stdout" 2> "$work/primary/stderr" &
  server=$!
  until grep -q 'HTTP listening' "$work/primary/stderr" 2>/dev/null; do sleep 0.05; done
  grpc="http://$(sed -n 's/^auditlogd: gRPC listening on //p' "$work/primary/stderr")"
  http="http://$(sed -n 's/^auditlogd: HTTP listening on //p' "$work/primary/stderr")"
}

# The primary's newest checkpoint's tree size (an admin key's ask signs one).
primary_size() {
  curl -sf -H "authorization: Bearer $key" "$http/v1/checkpoint" | sed -n 2p
}

# Waits until the replica keeps the primary's newest checkpoint (the primary still).
wait_caught_up() {
  local size
  while true; do
    size=$(primary_size)
    read -r kept _ <<<"$(replica_state || echo "0 0")"
    [ "$kept" = "$size" ] && break
    sleep 0.05
  done
}

start_replica() {
  "$bin/auditlogd" --data "$work/replica" --grpc 127.0.0.1:0 --http 127.0.0.1:0 \
    --replica-of "$http" --replica-key-file "$work/key" --replica-every-ms "$every" \
    > "$work/replica.out" 2> "$work/replica.err" &
  replica=$!
  for _ in $(seq 200); do
    grep -q 'HTTP listening' "$work/replica.err" 2>/dev/null && break
    sleep 0.05
  done
  replica_http="http://$(sed -n 's/^auditlogd: HTTP listening on //p' "$work/replica.err")"
  # Its keys are the primary's, read within a second.
  until replica_state >/dev/null 2>&1; do sleep 0.05; done
}

stop_replica() {
  kill "$replica"
  wait "$replica" 2>/dev/null || true
  replica=""
}

declare -a catchups alone beside lags tails
for round in $(seq "$rounds"); do
  rm -rf "$work/archive" "$work/replica"
  launch_server "$work/primary" --archive "file://$work/archive"
  echo "$key" > "$work/key"
  # A checkpoint signed, segments past it archived (so the archive's records reach a
  # checkpoint), then the replica's directory restored from the archive.
  load "$work/first.jsonl" "$((n / 2))" > /dev/null
  signed=$(primary_size)
  load "$work/first.jsonl" "$((n / 2))" > /dev/null
  until [ "$(curl -sf -H "authorization: Bearer $key" "$http/metrics" |
    sed -n 's/^auditlog_archived_tree_size //p')" -ge "$signed" ]; do sleep 0.2; done
  "$bin/auditlog" restore --from "file://$work/archive" --data "$work/replica" > "$work/restore.out" || { cat "$work/restore.out" >&2; exit 1; }
  restart_primary
  # 1. Catch-up: the rest of the first load, and a second load, with the replica stopped.
  load "$work/second.jsonl" > /dev/null
  start=$(date +%s.%N)
  start_replica
  read -r from _ <<<"$(replica_state)"
  wait_caught_up
  end=$(date +%s.%N)
  read -r kept _ <<<"$(replica_state)"
  catchup=$(awk -v a="$kept" -v b="$from" -v s="$start" -v e="$end" 'BEGIN {printf "%d", (a - b) / (e - s)}')
  echo "round $round: catch-up of $((kept - from)) events: $catchup events/s"
  catchups+=("$catchup")
  # 2. Following: the first load again (new ids are not needed: the log takes any).
  : > "$work/lag"
  ( while kill -0 "$replica" 2>/dev/null; do replica_state >> "$work/lag" 2>/dev/null || true; sleep 0.2; done ) &
  sampler=$!
  rate=$(load "$work/first.jsonl")
  loaded=$(date +%s.%N)
  wait_caught_up
  done_at=$(date +%s.%N)
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  lag=$(awk '{print $3}' "$work/lag" | sort -g | tail -1)
  tail_s=$(awk -v a="$loaded" -v b="$done_at" 'BEGIN {printf "%.2f", b - a}')
  echo "round $round: ingest beside a replica $rate events/s; largest lag seen $lag events; caught up $tail_s s after the load"
  beside+=("$rate")
  lags+=("$lag")
  tails+=("$tail_s")
  stop_replica
  # 3. The primary alone.
  rate=$(load "$work/second.jsonl")
  echo "round $round: ingest with no replica $rate events/s"
  alone+=("$rate")
  stop_server
done
m() { printf '%s\n' "$@" | median; }
echo "median catch-up: $(m "${catchups[@]}") events/s (runs: ${catchups[*]})"
echo "median ingest beside a replica: $(m "${beside[@]}") events/s; alone: $(m "${alone[@]}") events/s (runs: ${beside[*]} / ${alone[*]})"
echo "median largest lag during the load: $(m "${lags[@]}") events; caught up $(m "${tails[@]}") s after it (runs: ${lags[*]} / ${tails[*]})"
