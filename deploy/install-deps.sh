#!/usr/bin/env bash
# Installs what Osprey needs to build, test and run, from Debian bookworm's packages.
# Idempotent: when everything is present it changes nothing and asks no mirror.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  librdkafka-dev libboost-dev librocksdb-dev libeigen3-dev libyaml-cpp-dev libspdlog-dev
  libgtest-dev libgmock-dev libbenchmark-dev libsimdjson-dev libxgboost-dev libssl-dev
  libcli11-dev nlohmann-json3-dev libstemmer-dev
  kcat curl python3
  chromium  # the dashboard's browser test (tests/browser), driven headless
  python3-xgboost wrk
)
# The browser test runs playwright-core under Node.js (npm ci pins it); Debian's nodejs and npm
# only when no node is installed already (a newer one from elsewhere is kept).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
fi

# `install-deps.sh --bench` adds what tests/bench/sklearn_compare.sh compares against.
if [ "${1:-}" = "--bench" ]; then
  PACKAGES+=(python3-sklearn python3-numpy python3-xgboost)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
