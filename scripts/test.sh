#!/usr/bin/env bash
# The whole test suite: format, lints, every test (unit, integration, property, crash,
# the real binaries), benches compile, and the engine's dependency boundary.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== engine dependency boundary"
if cargo tree -p auditlog-engine -e normal --prefix none | grep -E '^(tokio|tonic|axum|clap) '; then
  echo "auditlog-engine must not depend on tokio, tonic, axum or clap" >&2
  exit 1
fi
echo "== cargo test"
cargo test --workspace --all-targets
cargo test --workspace --doc
echo "== benches compile"
cargo bench --workspace --no-run
