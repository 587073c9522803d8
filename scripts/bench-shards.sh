#!/usr/bin/env bash
# Write throughput of tenant shards on this machine: one, two and three release
# `auditlogd` nodes of one cluster (etcd from scripts/etcd.sh, durability always, fresh
# data directories each run), each loaded by its own `auditlog bench-ingest` (gRPC,
# batches of BATCH, CONCURRENCY in flight) with N events of its own tenants (the
# workload's tenant ids prefixed with the node's name, so no tenant is refused). All the
# loads run at once; a run's throughput is the sum of their rates. Before the timed load
# each node takes WARM events of its workload untimed, which claims nearly all of its
# 1,000 tenants in etcd: what is timed is a cluster in its steady state, not the one
# etcd transaction of each tenant's first write (reported apart, as the warm-up's rate).
# Also one node outside any cluster, the base of the ratios. Node counts take turns
# within each round.
# Usage: scripts/bench-shards.sh [N=1000000] [ROUNDS=3] [BATCH=1000] [CONCURRENCY=32]
#        (WARM=50000)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
rounds="${2:-3}"
batch="${3:-1000}"
concurrency="${4:-32}"
warm="${WARM:-50000}"
cargo build --release -p auditlog -p auditlogd >/dev/null 2>&1
# shellcheck source=scripts/bench-lib.sh
source scripts/bench-lib.sh
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${etcd_dir:-}" ] && scripts/etcd.sh stop "$etcd_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
etcd_dir="$work/etcd"
etcd_url=$(scripts/etcd.sh start "$etcd_dir" | sed -n 's/^AUDITLOG_TEST_ETCD=//p')
"$bin/auditlog" generate --count "$n" --seed 1 > "$work/events.jsonl"
for node in n1 n2 n3; do
  sed "s/\"organization\":{\"id\":\"/\"organization\":{\"id\":\"$node-/" \
    "$work/events.jsonl" > "$work/$node.jsonl"
done
echo "workload: $n events per node, batches of $batch, $concurrency in flight; etcd $etcd_url"

# Starts node NAME (cluster CLUSTER, or none when CLUSTER is empty) on a fresh data
# directory; prints "PID GRPC_URL KEY".
start_node() {
  local name=$1 cluster=$2 args=()
  if [ -n "$cluster" ]; then
    args=(--cluster-etcd "$etcd_url" --cluster "$cluster" --node "$name"
      --advertise-grpc "http://$name.invalid:7070" --advertise-http "http://$name.invalid:7080")
  fi
  launch_server "$work/$name" "${args[@]}"
  echo "$server $grpc $key"
}

# Loads every node of `started` (run's) at once with EVENTS of its workload, each
# load's output in $work/NAME-<node>; returns when all are done.
load_all() {
  local events=$1 name=$2 loads=() i
  for i in $(seq "${#started[@]}"); do
    read -r _ url key <<<"${started[$((i - 1))]}"
    "$bin/auditlog" bench-ingest --server "$url" --key "$key" --file "$work/n$i.jsonl" \
      --events "$events" --batch "$batch" --concurrency "$concurrency" \
      > "$work/$name-$i" 2>&1 &
    loads+=($!)
  done
  for pid in "${loads[@]}"; do wait "$pid"; done
}

# Runs COUNT nodes (in cluster CLUSTER, or none) loaded at once; prints the sum of rates.
run() {
  local count=$1 cluster=$2 started=() i
  for i in $(seq "$count"); do
    start_node "n$i" "$cluster" > "$work/started"
    read -r pid url key < "$work/started"
    pids+=("$pid")
    started+=("$pid $url $key")
  done
  load_all "$warm" warm
  echo "  warm-up of $count node(s): $(head -1 "$work/warm-1" | cut -d' ' -f1) events/s (node 1)" >&2
  load_all "$n" load
  for entry in "${started[@]}"; do
    read -r pid _ <<<"$entry"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
  done
  pids=()
  for i in $(seq "$count"); do head -1 "$work/load-$i" | cut -d' ' -f1; done \
    | awk '{s += $1} END {printf "%d", s}'
}

declare -A rates
labels=(single 1 2 3)
for round in $(seq "$rounds"); do
  for label in "${labels[@]}"; do
    if [ "$label" = single ]; then
      rate=$(run 1 "")
    else
      rate=$(run "$label" "bench-$round-$label-$$")
    fi
    echo "round $round, $label: $rate events/s"
    rates[$label]="${rates[$label]:-} $rate"
  done
done
base=$(tr ' ' '\n' <<<"${rates[single]}" | grep . | median)
for label in "${labels[@]}"; do
  m=$(tr ' ' '\n' <<<"${rates[$label]}" | grep . | median)
  ratio=$(awk -v a="$m" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
  echo "median $label: $m events/s ($ratio of one node outside a cluster; runs:${rates[$label]})"
done
