#!/usr/bin/env bash
# What sealing personal data costs on ingest (docs/PRIVACY.md): `auditlog ingest` of the
# same JSONL file into a fresh log with durability always (DURABILITY=none to compare
# without fdatasync), without and with sealing, alternating, RUNS times each; prints
# every run, both medians and the slowdown.
# Usage: [DURABILITY=always|none] scripts/bench-sealing.sh [N=1000000] [RUNS=3] [FILE]
# (FILE: a JSONL workload, e.g. the reference one; default: `auditlog generate --seed 1`).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${2:-3}"
durability="${DURABILITY:-always}"
cargo build --release -p auditlog >/dev/null 2>&1
bin=target/release/auditlog
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if [ -n "${3:-}" ]; then
  head -n "$n" "$3" > "$work/events.jsonl"
else
  "$bin" generate --count "$n" --seed 1 > "$work/events.jsonl"
fi
echo "workload: $(wc -l < "$work/events.jsonl") events, $(stat -c %s "$work/events.jsonl") bytes"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
plain=()
sealed=()
for i in $(seq "$runs"); do
  for mode in plain sealed; do
    rm -rf "$work/data" "$work/kek"
    if [ "$mode" = sealed ]; then
      "$bin" init --data "$work/data" --durability "$durability" --seal --kek-file "$work/kek" >/dev/null 2>&1
      args=(--kek-file "$work/kek")
    else
      "$bin" init --data "$work/data" --durability "$durability" >/dev/null
      args=()
    fi
    line=$("$bin" ingest --data "$work/data" "${args[@]}" "$work/events.jsonl" 2>&1 | grep '^ingested')
    rate=$(sed -E 's/.*\(([0-9]+) events\/s\).*/\1/' <<<"$line")
    echo "$mode run $i: $line"
    if [ "$mode" = sealed ]; then sealed+=("$rate"); else plain+=("$rate"); fi
  done
done
p=$(printf '%s\n' "${plain[@]}" | median)
s=$(printf '%s\n' "${sealed[@]}" | median)
echo "median without sealing: $p events/s"
echo "median with sealing:    $s events/s"
awk -v p="$p" -v s="$s" 'BEGIN { printf "sealing costs %.1f%% of ingest throughput\n", (1 - s / p) * 100 }'
