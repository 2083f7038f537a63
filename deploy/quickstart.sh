#!/usr/bin/env bash
# One command: install, build, and run ospreyd on the embedded default (an in-process Kafka
# broker, a demo stream with planted anomalies, and the baseline detector). Alerts show up in the
# log within seconds and on http://127.0.0.1:8080/metrics. Ctrl-C stops it cleanly.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh release
exec build/release/daemon/ospreyd --config "${OSPREY_CONFIG:-config/examples/quickstart.yaml}"
