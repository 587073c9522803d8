#!/usr/bin/env bash
# Fuzz every decoder for a while: fuzz/run.sh [SECONDS_PER_TARGET] (default 600).
# Installs cargo-fuzz if missing; runs it on the stable toolchain via RUSTC_BOOTSTRAP
# (cargo-fuzz needs the nightly -Z flags for sanitizers). Crashers land in
# fuzz/artifacts/<target>/; copy each one, once fixed, into fuzz/regressions/<target>/,
# where `cargo test` replays it (engine/tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in record segment_header segment_footer proof_json event_json; do
  mkdir -p "corpus/$target"
  cp -n regressions/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=70000
done
