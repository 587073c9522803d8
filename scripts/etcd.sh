#!/usr/bin/env bash
# etcd on loopback, the real coordination service the shard tests keep their shard map
# in: Debian's `etcd-server` (apt-get), installed on first use.
#
#   scripts/etcd.sh start DIR [WATCH_PID]
#       starts one etcd member with its data in DIR on two free loopback ports (clients,
#       peers) and prints AUDITLOG_TEST_ETCD=http://127.0.0.1:PORT once it answers.
#       With WATCH_PID, a watchdog stops it when that process ends and removes DIR.
#   scripts/etcd.sh stop DIR
#       stops it: SIGTERM, then SIGKILL after a grace period.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd=${1:?usage: etcd.sh start DIR [WATCH_PID] | stop DIR}
dir=${2:?usage: etcd.sh start DIR [WATCH_PID] | stop DIR}

# shellcheck source=scripts/service-lib.sh
. scripts/service-lib.sh
stop() {
  stop_by_pidfile "$1/etcd.pid"
}

case "$cmd" in
stop)
  stop "$dir"
  exit 0
  ;;
start) ;;
*)
  echo "etcd.sh: unknown command $cmd" >&2
  exit 2
  ;;
esac

if ! command -v etcd >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q etcd-server >&2 ||
    { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q etcd-server >&2; }
  # The package may start a system member on the default ports (systemd or its init
  # script): the tests run their own.
  $sudo systemctl disable --now etcd >/dev/null 2>&1 || true
  $sudo service etcd stop >/dev/null 2>&1 || true
fi

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
# A port nothing listens on, below the kernel's ephemeral range (32768 up), where a
# connection's local port could take it between this check and etcd's bind.
free_port() {
  local port
  while :; do
    port=$((10000 + RANDOM % 22000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}
# Starts etcd on two free ports; 0 once its JSON gateway answers a range, 2 if a port was
# taken meanwhile (try others), 1 otherwise.
launch() {
  client=$(free_port)
  peer=$(free_port)
  while [ "$peer" = "$client" ]; do peer=$(free_port); done
  rm -rf "$dir/data"
  etcd --name auditlog-test --data-dir "$dir/data" \
    --listen-client-urls "http://127.0.0.1:$client" --advertise-client-urls "http://127.0.0.1:$client" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "auditlog-test=http://127.0.0.1:$peer" \
    --enable-v2=false >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  for i in $(seq 1 100); do
    if curl -sf -X POST -d '{"key":"AA=="}' "http://127.0.0.1:$client/v3/kv/range" >/dev/null 2>&1; then
      return 0
    fi
    if [ "$i" = 100 ] || ! kill -0 "$(cat "$dir/etcd.pid")" 2>/dev/null; then
      stop "$dir"
      grep -q "address already in use" "$dir/etcd.log" && return 2
      return 1
    fi
    sleep 0.2
  done
}
for attempt in 1 2 3 4 5; do
  status=0
  launch || status=$?
  [ "$status" = 2 ] && [ "$attempt" != 5 ] && continue
  if [ "$status" != 0 ]; then
    echo "etcd.sh: etcd did not start; its log:" >&2
    tail -20 "$dir/etcd.log" >&2
    exit 1
  fi
  break
done
if [ -n "${3:-}" ]; then
  stop_when_gone "$3" "$dir"
fi
echo "AUDITLOG_TEST_ETCD=http://127.0.0.1:$client"
