#!/usr/bin/env bash
# The whole path on a generated workload: `auditlog ingest` of N events from JSONL with
# durability always, then `auditlog verify`, RUNS times each; prints every run and the
# median. Usage: scripts/bench-ingest.sh [N=1000000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${2:-3}"
cargo build --release -p auditlog >/dev/null 2>&1
bin=target/release/auditlog
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate --count "$n" --seed 1 > "$work/events.jsonl"
echo "workload: $n events, $(stat -c %s "$work/events.jsonl") bytes"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ingest=()
verify=()
for i in $(seq "$runs"); do
  rm -rf "$work/data"
  "$bin" init --data "$work/data" --durability always >/dev/null
  line=$("$bin" ingest --data "$work/data" "$work/events.jsonl" 2>&1 | grep '^ingested')
  rate=$(sed -E 's/.*\(([0-9]+) events\/s\).*/\1/' <<<"$line")
  echo "ingest run $i: $line"
  ingest+=("$rate")
  out=$("$bin" verify --data "$work/data" --key "$("$bin" key show --data "$work/data")" | grep '^ok:')
  gbps=$(sed -E 's/.*, ([0-9.]+) GB\/s\)$/\1/' <<<"$out")
  echo "verify run $i: $out"
  verify+=("$gbps")
done
echo "median ingest: $(printf '%s\n' "${ingest[@]}" | median) events/s"
echo "median verify: $(printf '%s\n' "${verify[@]}" | median) GB/s"
