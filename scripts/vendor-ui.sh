#!/usr/bin/env bash
# Refreshes the JavaScript the viewer vendors (server/ui/vendor/, compiled into
# auditlogd): @noble/hashes (SHA-256, SHA-512, BLAKE3) and @noble/ed25519, audited,
# dependency-free libraries, fetched from the npm registry at the pinned versions and
# checked against the registry's integrity hashes. Only maintainers run it, to move a
# version: a build needs nothing but the files committed.
# Usage: scripts/vendor-ui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
vendor=server/ui/vendor
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# name version integrity files…
fetch() {
  local name=$1 version=$2 integrity=$3 dir=$4
  shift 4
  (cd "$scratch" && npm pack --silent "$name@$version" >/dev/null)
  local tgz
  tgz=$(ls "$scratch"/*.tgz)
  local got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$integrity" ]; then
    echo "$name@$version: integrity $got, expected $integrity" >&2
    exit 1
  fi
  mkdir -p "$scratch/x" "$vendor/$dir"
  tar xzf "$tgz" -C "$scratch/x"
  for file in "$@" LICENSE; do
    # The libraries' own source maps point at files not vendored: drop the comment.
    sed '/^\/\/# sourceMappingURL=/d' "$scratch/x/package/$file" > "$vendor/$dir/$file"
  done
  rm -rf "$scratch/x" "$tgz"
}

rm -rf "$vendor/noble-hashes" "$vendor/noble-ed25519"
fetch @noble/hashes 2.4.0 \
  'sha512-X5XaVWZIBCT7HHZGm5I7ZQXDwLG+bGXuSrMQAW+7Zvl87h1kmc1ZB1VSRJcpUfoUrGQp4Fkoxm5kZ+Ms+aW+eA==' \
  noble-hashes sha2.js blake3.js blake2.js _blake.js _md.js _u64.js utils.js
fetch @noble/ed25519 3.2.0 \
  'sha512-criDgRlnUA09hchYrTy/JUWPIEap5rZxQe6wDWzRx51oWWpDRcUpuNzlgPxDJaOK6AsW9c0wKcj3rKRv6t+bPQ==' \
  noble-ed25519 index.js
(cd "$vendor" && sha256sum noble-*/*.js noble-*/LICENSE > SHA256SUMS)
echo "vendored into $vendor" >&2
