#!/usr/bin/env bash
# auditlog side by side with what most teams build: an `audit_logs` table in PostgreSQL 15
# (one column per event field, jsonb metadata, b-tree indexes on (org_id, ts),
# (actor_id, ts) and (action, ts)), loaded with COPY. Same N generated events, same
# questions. Prints one Markdown table: ingest events/s, bytes per event on disk, and the
# p50/p99 latency of each query for both systems.
#
# Usage: benches/peers/postgres.sh [N=1000000] [RUNS=200] [ROUNDS=5]
# Each query runs RUNS times on each system, in ROUNDS rounds that alternate the two,
# and the latencies of all rounds are pooled: a slow minute on a shared machine then
# falls on both systems alike.
# Installs postgresql-15 from Debian's packages if missing; runs a private server on
# 127.0.0.1 in a temporary directory, removed at the end. Rerunnable from scratch.
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-1000000}"
runs="${2:-200}"
rounds="${3:-5}"
per_round=$(( (runs + rounds - 1) / rounds ))
port="${PGPORT_BENCH:-54329}"
pg=/usr/lib/postgresql/15/bin

if [ ! -x "$pg/postgres" ] || ! command -v pgbench >/dev/null; then
  echo "installing postgresql-15 ..." >&2
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_=sudo
  $sudo_ apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq postgresql-15 >/dev/null
fi
pgbench_bin=$(command -v pgbench || echo "$pg/pgbench")

cargo build --release -p auditlog >/dev/null 2>&1
bin="$PWD/target/release/auditlog"
work=$(mktemp -d /tmp/auditlog-peer-pg.XXXXXX)
chmod 755 "$work"
# PostgreSQL refuses to run as root: run it as the postgres user then.
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$pg/pg_ctl" -D "$work/pgdata" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql_() { as_pg psql -h 127.0.0.1 -p "$port" -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
now_s() { date +%s.%N; }
# div A B [FORMAT]: A / B, printed with FORMAT (default one decimal).
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.1f}" 'BEGIN { printf f, a / b }'; }

echo "generating $n events ..." >&2
"$bin" generate --count "$n" --seed 1 > "$work/events.jsonl"

# --- auditlog: ingest (durability always), then its size on disk.
"$bin" init --data "$work/al" --durability always >/dev/null
al_line=$("$bin" ingest --data "$work/al" "$work/events.jsonl" 2>&1 | grep '^ingested')
al_rate=$(sed -E 's/.*\(([0-9]+) events\/s\).*/\1/' <<<"$al_line")
al_bytes=$(du -sb "$work/al" | cut -f1)
echo "auditlog: $al_line" >&2

# --- PostgreSQL: a private server, the table, COPY with the indexes in place.
"$bin" export --data "$work/al" --format csv > "$work/events.csv"
chmod 644 "$work/events.csv"
mkdir "$work/pgdata"
[ "$(id -u)" = 0 ] && chown postgres "$work/pgdata"
as_pg "$pg/initdb" -D "$work/pgdata" -A trust -U postgres >/dev/null
cat >> "$work/pgdata/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
shared_buffers = 2GB
maintenance_work_mem = 1GB
max_wal_size = 16GB
checkpoint_timeout = 30min
CONF
as_pg "$pg/pg_ctl" -D "$work/pgdata" -l "$work/pgdata/log" -w start >/dev/null
psql_ <<'SQL'
CREATE TABLE audit_logs (
  id            bigint      NOT NULL,
  ts            timestamptz NOT NULL,
  actor_id      text        NOT NULL,
  actor_email   text,
  actor_kind    text,
  org_id        text        NOT NULL,
  org_name      text,
  action        text        NOT NULL,
  resource_type text,
  resource_id   text,
  outcome       text        NOT NULL,
  ip_address    inet,
  user_agent    text,
  metadata      jsonb,
  event_id      text
);
CREATE INDEX audit_logs_org_ts ON audit_logs (org_id, ts);
CREATE INDEX audit_logs_actor_ts ON audit_logs (actor_id, ts);
CREATE INDEX audit_logs_action_ts ON audit_logs (action, ts);
SQL
started=$(now_s)
psql_ -c "\\copy audit_logs FROM '$work/events.csv' WITH (FORMAT csv, HEADER true)"
psql_ -c "CHECKPOINT"
pg_secs=$(div "$(now_s)" 1 "%.3f" | awk -v s="$started" '{ printf "%.3f", $1 - s }')
pg_rate=$(div "$n" "$pg_secs" "%.0f")
psql_ -c "VACUUM ANALYZE audit_logs"
# Both systems measured at rest: VACUUM's writes flushed, and the input files (as large as
# both stores together at 10M) out of the page cache's way.
psql_ -c "CHECKPOINT"
rm -f "$work/events.jsonl" "$work/events.csv"
pg_bytes=$(psql_ -c "SELECT pg_total_relation_size('audit_logs')")
echo "postgres: COPY of $n rows in ${pg_secs}s ($pg_rate rows/s)" >&2

# --- The questions' parameters: the busiest tenant and actor, windows ending at the
# newest event.
tenant=$(psql_ -c "SELECT org_id FROM audit_logs GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
actor=$(psql_ -c "SELECT actor_id FROM audit_logs GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
end=$(psql_ -c "SELECT to_char((max(ts) + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM audit_logs")
d30=$(psql_ -c "SELECT to_char(('$end'::timestamptz - interval '30 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
d90=$(psql_ -c "SELECT to_char(('$end'::timestamptz - interval '90 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")
# The workload's privileged actions: as prefixes for auditlog, as the equivalent list of
# 19 actions for PostgreSQL (its best plan: one index range per action).
prefixes='auth.session.revoke,billing.payment_method.*,billing.plan.*,billing.subscription.*,feature_flag.delete,config.secret.*,api_key.create,api_key.rotate,api_key.revoke,permission.*,user.suspend,user.delete,data_export.*'
privileged="'auth.session.revoke','billing.payment_method.update','billing.plan.change','billing.subscription.cancel','feature_flag.delete','config.secret.read','config.secret.rotate','api_key.create','api_key.rotate','api_key.revoke','permission.role.assign','permission.role.revoke','permission.role.create','permission.policy.update','user.suspend','user.delete','data_export.create','data_export.download','data_export.schedule'"
echo "tenant $tenant, actor $actor, windows [$d30, $end) and [$d90, $end)" >&2

names=(
  "tenant, 30 days, newest 100"
  "actor history, newest 100"
  "actor history, count"
  "privileged actions, 90 days, newest 100"
  "tenant, 90 days, count by outcome"
)
sql=(
  "SELECT * FROM audit_logs WHERE org_id = '$tenant' AND ts >= '$d30' AND ts < '$end' ORDER BY ts DESC LIMIT 100;"
  "SELECT * FROM audit_logs WHERE actor_id = '$actor' ORDER BY ts DESC LIMIT 100;"
  "SELECT count(*) FROM audit_logs WHERE actor_id = '$actor';"
  "SELECT * FROM audit_logs WHERE action IN ($privileged) AND ts >= '$d90' AND ts < '$end' ORDER BY ts DESC LIMIT 100;"
  "SELECT outcome, count(*) FROM audit_logs WHERE org_id = '$tenant' AND ts >= '$d90' AND ts < '$end' GROUP BY outcome;"
)
ours=(
  "--tenant $tenant --from $d30 --to $end --limit 100"
  "--actor $actor --limit 100"
  "--actor $actor --count"
  "--action $prefixes --from $d90 --to $end --limit 100"
  "--tenant $tenant --from $d90 --to $end --count"
)

# p50 and p99 of a column of latencies in microseconds.
pct() { sort -n | awk '{a[NR]=$1} END {i=int(NR*0.5+0.5); j=int(NR*0.99+0.5); if(j<1)j=1; if(i<1)i=1; print a[i], a[j]}'; }
rows=()
mkdir "$work/pgbench"
[ "$(id -u)" = 0 ] && chown postgres "$work/pgbench"
for i in "${!names[@]}"; do
  echo "${sql[$i]}" > "$work/q$i.sql"
  chmod 644 "$work/q$i.sql"
  # Prepared statements over loopback TCP: PostgreSQL at its best, warmed by a first pass.
  (cd "$work/pgbench" && as_pg "$pgbench_bin" -n -M prepared -h 127.0.0.1 -p "$port" -U postgres -f "../q$i.sql" -t 20 postgres >/dev/null)
  rm -f "$work"/pgbench/pgbench_log.* "$work"/al_times.*
  for round in $(seq "$rounds"); do
    # pgbench's per-transaction log: one file per run, latency in the third column.
    (cd "$work/pgbench" && as_pg "$pgbench_bin" -n -M prepared -h 127.0.0.1 -p "$port" -U postgres -f "../q$i.sql" -t "$per_round" -l postgres >/dev/null)
    # One process per round, as warm as pgbench's connection: its first run is untimed.
    # shellcheck disable=SC2086
    "$bin" query --data "$work/al" --format json --repeat "$per_round" --timings "$work/al_times.$round" ${ours[$i]} >/dev/null 2>&1
  done
  read -r pg50 pg99 < <(cat "$work"/pgbench/pgbench_log.* | awk '{print $3}' | pct)
  read -r al50 al99 < <(cat "$work"/al_times.* | pct)
  rows+=("| ${names[$i]} p50 / p99 (µs) | $al50 / $al99 | $pg50 / $pg99 | $(div "$pg50" "$al50")× |")
done

echo
echo "N = $n events, $(( per_round * rounds )) runs per query in $rounds alternating rounds, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| | auditlog | PostgreSQL 15 | advantage |"
echo "|---|---:|---:|---:|"
echo "| ingest (events/s; auditlog ingest of JSONL, durability always / COPY of CSV) | $al_rate | $pg_rate | $(div "$al_rate" "$pg_rate")× |"
echo "| bytes per event on disk (data dir / table + indexes) | $(( al_bytes / n )) | $(( pg_bytes / n )) | $(div "$pg_bytes" "$al_bytes" "%.2f")× |"
printf '%s\n' "${rows[@]}"
