#!/usr/bin/env bash
# The browser ctests (dashboard_browser, train_report_browser): installs playwright-core (npm ci,
# pinned by package-lock.json) into WORK_DIR once, shared by every test here, then runs
# tests/browser/TEST.mjs with --modules WORK_DIR/node_modules --workdir WORK_DIR/TEST (emptied
# first) and ARGS. Exits 77 (ctest SKIP) with a message when /usr/bin/chromium, node or npm is
# missing (deploy/install-deps.sh installs them).
# Usage: run_browser_test.sh TEST SOURCE_DIR WORK_DIR [ARGS...]
set -euo pipefail
test_name="$1"
source_dir="$2"
work_dir="$3"
shift 3
here="$source_dir/tests/browser"

for tool in /usr/bin/chromium node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "SKIP: $tool is not installed; the browser tests need chromium, node and npm" \
         "(deploy/install-deps.sh installs them)"
    exit 77
  fi
done

if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  echo "SKIP: node $(node --version) is too old; playwright-core needs Node.js 20 or newer"
  exit 77
fi

mkdir -p "$work_dir"
# npm ci only when the lock file changed since the last install here; one install at a time
# (ctest also serialises these tests with RESOURCE_LOCK).
install_modules() {
  if ! cmp -s "$here/package-lock.json" "$work_dir/package-lock.json" ||
     [ ! -f "$work_dir/node_modules/playwright-core/package.json" ]; then
    cp "$here/package.json" "$here/package-lock.json" "$work_dir/"
    (cd "$work_dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
if command -v flock >/dev/null 2>&1; then
  exec 9>"$work_dir/.npm.lock"
  flock 9
  install_modules
  flock -u 9
else
  install_modules
fi

rm -rf "${work_dir:?}/$test_name"
exec node "$here/$test_name.mjs" \
  --modules "$work_dir/node_modules" \
  --workdir "$work_dir/$test_name" \
  "$@"
