#!/usr/bin/env bash
# Archival against a local SeaweedFS (scripts/seaweedfs.sh): N workload events ingested
# with durability always into 128 MiB segments (the ingest rate is the bar archiving
# must keep up with), then `auditlog archive` to a fresh prefix (events/s and MB/s of
# sealed segments), then `auditlog verify` of the data directory and `auditlog verify
# --archive` of the archive, in the same run. RUNS times; prints every run and the
# medians. Usage: scripts/bench-archive.sh [N=1000000] [RUNS=3] [SEGMENT_BYTES=134217728]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
runs="${2:-3}"
segment_bytes="${3:-134217728}"
cargo build --release -p auditlog >/dev/null 2>&1
bin=target/release/auditlog
work=$(mktemp -d)
trap 'scripts/seaweedfs.sh stop "$work/s3"; rm -rf "$work"' EXIT
while IFS='=' read -r name value; do export "$name=$value"; done \
  <<<"$(scripts/seaweedfs.sh start "$work/s3" $$)"
export AWS_ENDPOINT_URL=$AUDITLOG_TEST_S3_ENDPOINT AWS_REGION=us-east-1
"$bin" generate --count "$n" --seed 1 > "$work/events.jsonl"
echo "workload: $n events, $(stat -c %s "$work/events.jsonl") bytes; segments of $segment_bytes bytes"
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
ingest=(); archive_eps=(); archive_mbs=(); local_gbs=(); remote_gbs=()
for i in $(seq "$runs"); do
  rm -rf "$work/data"
  "$bin" init --data "$work/data" --durability always --segment-bytes "$segment_bytes" >/dev/null
  line=$("$bin" ingest --data "$work/data" "$work/events.jsonl" 2>&1 | grep '^ingested')
  ingest+=("$(sed -E 's/.*\(([0-9]+) events\/s\).*/\1/' <<<"$line")")
  url="s3://auditlog-test/bench-$i-$$"
  start=$(now)
  report=$("$bin" archive --data "$work/data" --to "$url" --json)
  seconds=$(awk -v a="$(now)" -v b="$start" 'BEGIN {printf "%.3f", a - b}')
  events=$(sed -E 's/.*"archived_tree_size":([0-9]+).*/\1/' <<<"$report")
  bytes=$(sed -E 's/.*"bytes_archived":([0-9]+).*/\1/' <<<"$report")
  archive_eps+=("$(awk -v e="$events" -v s="$seconds" 'BEGIN {printf "%d", e / s}')")
  archive_mbs+=("$(awk -v b="$bytes" -v s="$seconds" 'BEGIN {printf "%.1f", b / s / 1e6}')")
  key=$("$bin" key show --data "$work/data")
  local_out=$("$bin" verify --data "$work/data" --key "$key" | grep '^ok:')
  remote_out=$("$bin" verify --archive "$url" --key "$key" | grep '^ok:')
  local_gbs+=("$(sed -E 's/.*, ([0-9.]+) GB\/s\)$/\1/' <<<"$local_out")")
  remote_gbs+=("$(sed -E 's/.*, ([0-9.]+) GB\/s\)$/\1/' <<<"$remote_out")")
  echo "run $i: $line"
  echo "  archive: $events events, $bytes bytes in ${seconds}s"
  echo "  verify local:   $local_out"
  echo "  verify archive: $remote_out"
done
echo "median ingest: $(printf '%s\n' "${ingest[@]}" | median) events/s"
echo "median archive: $(printf '%s\n' "${archive_eps[@]}" | median) events/s, $(printf '%s\n' "${archive_mbs[@]}" | median) MB/s"
echo "median verify local: $(printf '%s\n' "${local_gbs[@]}" | median) GB/s; archive: $(printf '%s\n' "${remote_gbs[@]}" | median) GB/s"
