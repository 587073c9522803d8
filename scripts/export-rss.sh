#!/usr/bin/env bash
# Peak memory of `auditlog export` over N generated events: samples the process's
# anonymous resident memory (heap, stacks) and its file-backed resident memory (pages of
# the mapped sealed segments, shared with the page cache and reclaimable) every 5 ms.
# Usage: scripts/export-rss.sh [N=1000000] [FORMAT=jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"
format="${2:-jsonl}"
cargo build --release -p auditlog >/dev/null 2>&1
bin=target/release/auditlog
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" generate --count "$n" --seed 1 | "$bin" ingest --data "$work/data" - >/dev/null 2>&1
for limit in $((n / 10)) "$n"; do
  "$bin" export --data "$work/data" --format "$format" --to-seq "$limit" > /dev/null &
  pid=$!
  anon=0; file=0
  while kill -0 "$pid" 2>/dev/null; do
    read -r a f < <(awk '/RssAnon/{a=$2} /RssFile/{f=$2} END {print a+0, f+0}' "/proc/$pid/status" 2>/dev/null || echo "0 0")
    [ "$a" -gt "$anon" ] && anon=$a
    [ "$f" -gt "$file" ] && file=$f
    sleep 0.005
  done
  echo "export of $limit events ($format): peak anonymous RSS $((anon / 1024)) MiB, peak file-backed RSS $((file / 1024)) MiB"
done
