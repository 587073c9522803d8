#!/usr/bin/env bash
# A long kill -9 soak of `auditlog ingest` for hand runs: the crash test with many rounds.
#   scripts/crash-soak.sh [ROUNDS] (default 1000); AUDITLOG_CRASH_SEED=N replays a run.
set -euo pipefail
cd "$(dirname "$0")/.."
AUDITLOG_CRASH_ROUNDS="${1:-1000}" cargo test --release -p auditlog --test crash -- --nocapture
