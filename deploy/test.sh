#!/usr/bin/env bash
# One command: install, build, and run the whole test suite (unit + integration).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
deploy/build.sh release
cd build/release
ctest --output-on-failure -j "$(nproc)" --timeout 300
