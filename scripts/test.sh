#!/usr/bin/env bash
# The whole test suite: format, lints, every test (unit, integration, property, crash,
# the real binaries, the archive against a real S3 store), benches compile, and the
# engine's dependency boundary.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== engine dependency boundary"
if cargo tree -p auditlog-engine -e normal --prefix none | grep -E '^(tokio|tonic|axum|clap|object_store|reqwest) '; then
  echo "auditlog-engine must not depend on tokio, tonic, axum, clap, object_store or reqwest" >&2
  exit 1
fi
echo "== SeaweedFS (the S3-compatible store of the archive tests), once for the suite"
s3dir=target/seaweedfs-suite
rm -rf "$s3dir"
s3env=$(scripts/seaweedfs.sh start "$s3dir" $$)
trap 'scripts/seaweedfs.sh stop "$s3dir"' EXIT
while IFS='=' read -r name value; do export "$name=$value"; done <<<"$s3env"
echo "== etcd (the shard map of the cluster tests; Debian's etcd-server), once for the suite"
etcddir=target/etcd-suite
rm -rf "$etcddir"
etcdenv=$(scripts/etcd.sh start "$etcddir" $$)
trap 'scripts/seaweedfs.sh stop "$s3dir"; scripts/etcd.sh stop "$etcddir"' EXIT
export "${etcdenv?}"
echo "== the browser of the viewer's tests (Debian's chromium and chromium-driver, axe-core)"
scripts/browser-env.sh
echo "== the tlog-tiles checker (Debian's golang-go and golang-golang-x-mod-dev)"
scripts/go-env.sh
echo "== Spark of the Parquet tests (Debian's openjdk-17-jre-headless, PyPI pyspark)"
scripts/spark-env.sh >/dev/null
echo "== cargo test"
if ! cargo test --workspace --all-targets; then
  # The store's own account of a failure that reached it.
  echo "== the last of SeaweedFS's log ($s3dir/weed.log)"
  grep -E "^[EW]" "$s3dir/weed.log" | tail -40 || true
  echo "== the last of etcd's log ($etcddir/etcd.log)"
  tail -20 "$etcddir/etcd.log" || true
  exit 1
fi
cargo test --workspace --doc
echo "== benches compile"
cargo bench --workspace --no-run
