#!/usr/bin/env bash
# What the viewer's browser tests need, installed on first use: Debian's chromium and
# chromium-driver (apt-get), and axe-core (the accessibility checker) from the npm
# registry's tarball, its integrity checked, under target/browser/. Selenium comes with
# the Python venv (scripts/python-env.sh). Prints `CHROMIUM=… CHROMEDRIVER=… AXE=…`.
# Usage: scripts/browser-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q chromium chromium-driver >&2 ||
    { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q chromium chromium-driver >&2; }
fi

axe_version=4.14.1
axe_integrity='sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=='
axe_dir=target/browser/axe-core-$axe_version
if [ ! -f "$axe_dir/axe.min.js" ]; then
  mkdir -p "$axe_dir"
  tgz="$axe_dir.tgz"
  python3 - "$tgz" "$axe_version" <<'PY'
import sys, urllib.request
out, version = sys.argv[1], sys.argv[2]
url = f"https://registry.npmjs.org/axe-core/-/axe-core-{version}.tgz"
with urllib.request.urlopen(url, timeout=120) as answer, open(out, "wb") as f:
    f.write(answer.read())
PY
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "$axe_integrity" ]; then
    echo "axe-core $axe_version: integrity $got, expected $axe_integrity" >&2
    rm -f "$tgz"
    exit 1
  fi
  tar xzf "$tgz" -C "$axe_dir" --strip-components=1 package/axe.min.js package/LICENSE
  rm -f "$tgz"
fi
echo "CHROMIUM=$(command -v chromium) CHROMEDRIVER=$(command -v chromedriver) AXE=$PWD/$axe_dir/axe.min.js"
