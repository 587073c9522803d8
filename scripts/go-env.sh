#!/usr/bin/env bash
# What the tlog-tiles tests need, installed on first use: Debian's Go toolchain and its
# packaged golang.org/x/mod (golang-go, golang-golang-x-mod-dev; apt-get), then builds
# server/tests/go/tlogcheck, a checker that uses only x/mod's sumdb/note and sumdb/tlog.
# Built again when its source changes. Prints `TLOGCHECK=…`.
# Usage: scripts/go-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."

gocode=/usr/share/gocode
if ! command -v go >/dev/null || [ ! -d "$gocode/src/golang.org/x/mod/sumdb/tlog" ]; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q golang-go golang-golang-x-mod-dev >&2 ||
    { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q golang-go golang-golang-x-mod-dev >&2; }
fi

src=server/tests/go/tlogcheck
out=target/go
stamp="$out/tlogcheck.sha256"
want=$(cat "$src"/*.go | sha256sum | cut -d' ' -f1)
if [ ! -x "$out/tlogcheck" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  mkdir -p "$out/cache"
  # GOPATH mode over Debian's packaged sources: no module download, no network.
  GO111MODULE=off GOPATH="$gocode" GOCACHE="$PWD/$out/cache" GOFLAGS= \
    go build -o "$out/tlogcheck" "./$src" >&2
  echo "$want" >"$stamp"
fi
echo "TLOGCHECK=$PWD/$out/tlogcheck"
