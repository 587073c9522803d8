#!/usr/bin/env bash
# What the Parquet tests' Spark run needs, installed on first use: Java (Debian's
# openjdk-17-jre-headless, apt-get) and PySpark (PyPI `pyspark`, pinned) in a venv of its
# own under target/ (it is large; the other tests' venv stays small). Spark runs in local
# mode, in the test's own process tree: no cluster, no network but loopback.
# Prints the venv's python.
# Usage: scripts/spark-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v java >/dev/null; then
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y -q openjdk-17-jre-headless >&2 ||
    { $sudo apt-get update -q >&2 && $sudo apt-get install -y -q openjdk-17-jre-headless >&2; }
fi

venv=target/spark-venv
want="pyspark==4.0.5"
source scripts/venv-lib.sh
ensure_venv "$venv" "$want"
echo "$PWD/$venv/bin/python"
