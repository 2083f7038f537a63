#!/usr/bin/env bash
# NAB benchmark of Osprey's detectors (not part of ctest).
#
#   tests/nab/run_nab.sh [BUILD_DIR]
#
# Replays every CSV under $NAB_DIR/data (default /work/shared/bench/nab) through `osprey replay`
# with ONE configuration for all files (tests/nab/nab.yaml: rcf; tests/nab/nab_baseline.yaml:
# baseline), writes RESULTS/<category>/<name>.csv, and scores each tree with NAB's scorer
# ($NAB_DIR/nab_score.py, python3 standard library) on labels/combined_windows_dev.json.
# Prints the standard, reward_low_FP_rate and reward_low_FN_rate scoreboards.
# Environment: NAB_DIR, OSPREY (path of the osprey binary), RESULTS_DIR (default: a temp dir),
# NAB_CONFIGS (default: "nab.yaml nab_baseline.yaml").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
build="${1:-$root/build}"
nab="${NAB_DIR:-/work/shared/bench/nab}"
osprey="${OSPREY:-$build/daemon/osprey}"
results="${RESULTS_DIR:-$(mktemp -d -t osprey-nab.XXXXXX)}"
configs="${NAB_CONFIGS:-nab.yaml nab_baseline.yaml}"
python=python3
[[ -x /usr/bin/python3 ]] && python=/usr/bin/python3

[[ -x "$osprey" ]] || { echo "run_nab.sh: no osprey binary at $osprey (build it or set OSPREY)" >&2; exit 2; }
[[ -d "$nab/data" ]] || { echo "run_nab.sh: no NAB data at $nab/data (set NAB_DIR)" >&2; exit 2; }
labels="$nab/labels/combined_windows_dev.json"
[[ -f "$labels" ]] || labels="$nab/labels/combined_windows.json"

for config in $configs; do
  [[ "$config" == /* ]] || config="$here/$config"
  name="$(basename "$config" .yaml)"
  out="$results/$name"
  rm -rf "$out"
  start=$(date +%s)
  files=0
  while IFS= read -r csv; do
    rel="${csv#"$nab/data/"}"
    mkdir -p "$out/$(dirname "$rel")"
    "$osprey" replay --config "$config" --input "$csv" --output "$out/$rel"
    files=$((files + 1))
  done < <(find "$nab/data" -name '*.csv' | sort)
  echo "== $name: $files files replayed in $(( $(date +%s) - start )) s -> $out"
  "$python" "$nab/nab_score.py" --data "$nab/data" --labels "$labels" --results "$out"
done
