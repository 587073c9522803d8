#!/usr/bin/env bash
# The viewer's figures (docs/BENCHMARKS.md): on a log of N generated events (10,000,000
# for the documented run), the time to the first painted page of events in headless
# Chromium for the busiest tenant and for the privileged preset (from navigation start
# to the `auditlog:first-page` mark, after the first page's rows are in the DOM), and
# the counts-over-time API for that tenant's 90 days, by day (p50 of 21 requests), and
# the tenant's report over the same 90 days (median of 3).
# Usage: scripts/bench-viewer.sh [N] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000000}
runs=${2:-5}
cargo build --release -q -p auditlog -p auditlogd
bin=target/release
work=target/bench-viewer
mkdir -p "$work"
eval "$(scripts/browser-env.sh)"
python=$(scripts/python-env.sh)

if [ ! -f "$work/data.$n" ]; then
  rm -rf "$work/data" "$work"/data.*
  "$bin/auditlog" init --data "$work/data" >/dev/null
  echo "== generating and ingesting $n events" >&2
  /usr/bin/time -f "ingest: %e s" "$bin/auditlog" generate --count "$n" --seed 7 |
    "$bin/auditlog" ingest --data "$work/data" - >/dev/null
  touch "$work/data.$n"
fi
# The busiest tenant: the most frequent in a sample of the same generator's output.
busiest=$("$bin/auditlog" generate --count 200000 --seed 7 | "$python" -c '
import collections, json, sys
print(collections.Counter(json.loads(l)["organization"]["id"] for l in sys.stdin).most_common(1)[0][0])')

"$bin/auditlogd" --data "$work/data" --grpc 127.0.0.1:0 --http 127.0.0.1:0 > "$work/stdout" 2> "$work/stderr" &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 300); do grep -q 'HTTP listening' "$work/stderr" 2>/dev/null && break; sleep 0.1; done
http="http://$(sed -n 's/^auditlogd: HTTP listening on //p' "$work/stderr")"
key=$(sed -n 's/^admin key: //p' "$work/stdout")
[ -n "$key" ] || key=$(cat "$work/admin-key")
echo "$key" > "$work/admin-key"
curl -sf -H "Authorization: Bearer $key" "$http/v1/checkpoint" >/dev/null
token=$(curl -sf -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d "{\"tenant\":\"$busiest\"}" "$http/v1/viewer-tokens" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["token"])')

echo "== $n events; busiest tenant $busiest ($runs runs)" >&2
"$python" - "$http" "$token" "$runs" "$CHROMIUM" "$CHROMEDRIVER" <<'PY'
import statistics, sys, time
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
base, token, runs, chromium, driver_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
options = webdriver.ChromeOptions()
options.binary_location = chromium
for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--window-size=1280,900"]:
    options.add_argument(flag)
driver = webdriver.Chrome(service=Service(driver_path), options=options)
privileged = ("permission.*,api_key.create,api_key.rotate,api_key.revoke,user.suspend,user.delete,"
              "data_export.*,config.secret.*,billing.payment_method.update,billing.plan.change,"
              "billing.subscription.cancel,feature_flag.delete,auth.session.revoke")
def first_page(url):
    driver.get(url)
    for _ in range(600):
        marks = driver.execute_script("return performance.getEntriesByName('auditlog:first-page').map(m => m.startTime)")
        if marks:
            return marks[0]
        time.sleep(0.05)
    raise SystemExit(f"no first page at {url}")
driver.get(f"{base}/ui/#token={token}")  # the token into the tab's session
first_page(f"{base}/ui/")
for name, url in [("busiest tenant", f"{base}/ui/"), ("privileged preset", f"{base}/ui/?action={privileged}")]:
    times = [first_page(url) for _ in range(runs)]
    print(f"first page, {name}: median {statistics.median(times):.0f} ms (runs: {', '.join(f'{t:.0f}' for t in times)})")
driver.quit()
PY

# Counts over time: the tenant's first 90 days, by day.
times=()
for _ in $(seq 21); do
  times+=("$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $key" \
    "$http/v1/events/count?tenant=$busiest&bucket=day&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z")")
done
p50=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "counts over time, 90 days by day: p50 $(awk -v t="$p50" 'BEGIN {printf "%.1f", t * 1000}') ms"
curl -sf -H "Authorization: Bearer $key" \
  "$http/v1/events/count?tenant=$busiest&bucket=day&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z" |
  "$python" -c 'import json,sys; a=json.load(sys.stdin); print("  (%d events in %d days)" % (a["count"], len(a["buckets"])))'

# The report of the same 90 days: every event of the tenant in them is read.
times=()
for _ in 1 2 3; do
  times+=("$(curl -sf -o /dev/null -w '%{time_total}' -H "Authorization: Bearer $key" \
    "$http/v1/reports?tenant=$busiest&from=2026-01-01T00:00:00Z&to=2026-04-01T00:00:00Z")")
done
p50=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "report, 90 days: median $(awk -v t="$p50" 'BEGIN {printf "%.0f", t * 1000}') ms (runs: ${times[*]} s)"
