#!/usr/bin/env bash
# Fuzz the decoders for a while: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
# (default 600 s, every target). Installs cargo-fuzz if missing; runs it on the stable
# toolchain via RUSTC_BOOTSTRAP (cargo-fuzz needs nightly -Z flags for sanitizers).
# Crashers land in fuzz/artifacts/<target>/; once fixed, copy each into
# fuzz/regressions/<target>/, where `cargo test` replays it
# (engine/tests/fuzz_regressions.rs, and the archive's and protocol's own). Exits non-zero if any target found a crash.
set -uo pipefail
cd "$(dirname "$0")"
seconds="${1:-600}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(record segment_header segment_footer segment_stub proof_json event_json checkpoint_note bundle index_file cursor grpc_messages subject_keys erasure_receipt retention_receipt retention_heads query_params archive_manifest ingest_body otlp_logs catalog_entry proven_batch report_attestation tile_path tlog_proof add_checkpoint)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked || exit 2
export RUSTC_BOOTSTRAP=1
status=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  cp -n regressions/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "== $target for ${seconds}s"
  cargo fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -max_len=70000 || status=1
done
exit $status
