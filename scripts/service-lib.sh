# What the scripts that run a test service on loopback share (seaweedfs.sh, etcd.sh),
# sourced by them. Each defines `stop DIR`, stopping its service by its pid file there.

# stop_by_pidfile FILE: SIGTERM to the process FILE names, then SIGKILL after a grace
# period of 5 s (a server may ignore SIGTERM for a while); nothing if it is not running.
stop_by_pidfile() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in 1 2 3 4 5 6 7 8 9 10; do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.5
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# stop_when_gone WATCHED_PID DIR: in the background, once process WATCHED_PID ends,
# stops the service (`stop DIR`) and removes DIR.
stop_when_gone() {
  local watched=$1 dir=$2
  (
    while kill -0 "$watched" 2>/dev/null; do sleep 1; done
    stop "$dir"
    rm -rf "$dir"
  ) >/dev/null 2>&1 </dev/null &
  disown
}
