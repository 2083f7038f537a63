#!/usr/bin/env bash
# Configures and builds Osprey into build/<preset> (Ninja, ccache when present).
# Usage: deploy/build.sh [release|dev|bench] [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
case "$preset" in
  release) args=(-DCMAKE_BUILD_TYPE=Release -DOSPREY_BUILD_TESTS=ON) ;;
  dev) args=(-DCMAKE_BUILD_TYPE=Debug -DOSPREY_BUILD_TESTS=ON) ;;
  bench) args=(-DCMAKE_BUILD_TYPE=Release -DOSPREY_BUILD_TESTS=OFF -DOSPREY_BUILD_BENCHMARKS=ON) ;;
  *) echo "deploy/build.sh: unknown preset '$preset' (release|dev|bench)" >&2; exit 2 ;;
esac
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
cmake -S . -B "build/$preset" -G Ninja "${args[@]}" "$@" >/dev/null
jobs="$(nproc)"
cmake --build "build/$preset" -j "$jobs"
