#!/usr/bin/env bash
# ctest `dashboard_browser`: installs playwright-core (npm ci, pinned by package-lock.json) into
# the build directory once, then runs dashboard_test.mjs against ospreyd. Exits 77 (ctest SKIP)
# with a message when /usr/bin/chromium, node or npm is missing (deploy/install-deps.sh installs
# them).
# Usage: run_browser_test.sh OSPREYD SOURCE_DIR WORK_DIR
set -euo pipefail
ospreyd="$1"
source_dir="$2"
work_dir="$3"
here="$source_dir/tests/browser"

for tool in /usr/bin/chromium node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed; the dashboard browser test needs chromium, node and npm" \
         "(deploy/install-deps.sh installs them)"
    exit 77
  fi
done

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "SKIP: node $(node --version) is too old; playwright-core needs Node.js 20 or newer"
  exit 77
fi

mkdir -p "$work_dir"
# npm ci only when the lock file changed since the last install here.
if ! cmp -s "$here/package-lock.json" "$work_dir/package-lock.json" ||
   [ ! -f "$work_dir/node_modules/playwright-core/package.json" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$work_dir/"
  (cd "$work_dir" && npm ci --no-audit --no-fund --loglevel=error)
fi

rm -rf "$work_dir/run"
exec node "$here/dashboard_test.mjs" \
  --ospreyd "$ospreyd" \
  --config "$source_dir/config/examples/quickstart.yaml" \
  --modules "$work_dir/node_modules" \
  --workdir "$work_dir/run" \
  --screenshot "$work_dir/dashboard.png"
