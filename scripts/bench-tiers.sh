#!/usr/bin/env bash
# Reads over released segments against a local SeaweedFS (scripts/seaweedfs.sh): N
# workload events ingested into segments of SEGMENT_BYTES, archived with every sealed
# segment but the newest released (`auditlog archive --hot-bytes 0`), then the first page
# (100 events, newest first) of one tenant's query over the released range, timed in
# process with `auditlog query --repeat`: with the cache emptied before each run (cold:
# the page's records are read as byte ranges of the archived copy), with it warm, and on a copy of the data directory taken before
# the release (local). Usage: scripts/bench-tiers.sh [N=1000000] [SEGMENT_BYTES=134217728]
# [COLD_RUNS=20]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
segment_bytes="${2:-134217728}"
cold_runs="${3:-20}"
cargo build --release -p auditlog >/dev/null 2>&1
bin=target/release/auditlog
work=$(mktemp -d)
trap 'scripts/seaweedfs.sh stop "$work/s3"; rm -rf "$work"' EXIT
while IFS='=' read -r name value; do export "$name=$value"; done \
  <<<"$(scripts/seaweedfs.sh start "$work/s3" $$)"
export AWS_ENDPOINT_URL=$AUDITLOG_TEST_S3_ENDPOINT AWS_REGION=us-east-1
"$bin" generate --count "$n" --seed 1 > "$work/events.jsonl"
"$bin" init --data "$work/data" --segment-bytes "$segment_bytes" >/dev/null
"$bin" ingest --data "$work/data" "$work/events.jsonl" >/dev/null 2>&1
cp -r "$work/data" "$work/local"
url="s3://auditlog-test/bench-tiers-$$"
"$bin" archive --data "$work/data" --to "$url" --hot-bytes 0 --cache-bytes 4294967296 2>/dev/null
tenant=$(head -1 "$work/events.jsonl" | grep -o '"organization":{"id":"[^"]*"' | sed -E 's/.*"id":"([^"]*)"/\1/')
# The end of the released range: where the first segment still on disk begins.
to_seq=$(ls "$work/data/segments" | grep '\.seg$' | head -1 | sed -E 's/^0*([0-9]+)\.seg$/\1/')
query=(query --tenant "$tenant" --to-seq "$to_seq" --limit 100 --format json)
p50() { sed -E 's/.*p50 ([0-9]+) us.*/\1/'; }
cold=$("$bin" "${query[@]}" --data "$work/data" --repeat "$cold_runs" --cold-cache 2>&1 >/dev/null | p50)
warm=$("$bin" "${query[@]}" --data "$work/data" --repeat 200 2>&1 >/dev/null | p50)
local=$("$bin" "${query[@]}" --data "$work/local" --repeat 200 2>&1 >/dev/null | p50)
echo "$n events, segments of $segment_bytes bytes, tenant $tenant, records below $to_seq"
echo "first page p50: cold ${cold} us ($cold_runs runs), warm ${warm} us, local ${local} us (200 runs each)"
