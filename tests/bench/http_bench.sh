#!/usr/bin/env bash
# HTTP serving benchmark (issue 6, section 7): requests/s and p50/p99 latency of POST
# /invocations (text/csv, one 4-value row per request) on a small XGBoost model and on the
# linear model, against a bare endpoint in the same server that returns a constant, in one run,
# with wrk at 64 connections. Not part of ctest: `ninja -C build http_bench` (needs
# -DOSPREY_BUILD_BENCHMARKS=ON, wrk, and python3-xgboost for the XGBoost model).
# The endpoints take turns for ROUNDS rounds and the table shows each one's median round, so a
# burst of load from elsewhere on the machine does not land on one endpoint only.
#   tests/bench/http_bench.sh SERVER_BINARY [DURATION_S] [CONNECTIONS] [SERVER_THREADS] [ROUNDS]
set -euo pipefail

server_bin=${1:?usage: http_bench.sh SERVER_BINARY [DURATION_S] [CONNECTIONS] [SERVER_THREADS] [ROUNDS]}
duration=${2:-10}
connections=${3:-64}
server_threads=${4:-1}  # wrk needs the other core of a 2-core machine; raise it on bigger ones
rounds=${5:-3}
command -v wrk >/dev/null || { echo "http_bench: wrk is not installed (deploy/install-deps.sh)"; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/http-bench-work.XXXXXX")
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

registry="$work/registry"
mkdir -p "$registry/linear/1" "$registry/xgb/1"
inputs='[{"name":"a","type":"numeric"},{"name":"b","type":"numeric"},{"name":"c","type":"numeric"},{"name":"d","type":"numeric"}]'
cat > "$registry/linear/1/metadata.json" <<JSON
{"format_version":1,"name":"linear","version":"1","kind":"linear","task":"binary","created":"2026-01-01T00:00:00Z","model_file":"model.json","inputs":$inputs,"metrics":{}}
JSON
cat > "$registry/linear/1/model.json" <<JSON
{"format":"osprey-linear/1","task":"binary","link":"logistic","weights":[[0.5,-1.25,2.0,0.75]],"bias":[0.1]}
JSON
have_xgb=1
if /usr/bin/python3 - "$registry/xgb/1" <<'PY'
import sys, numpy as np, xgboost as xgb
rng = np.random.RandomState(3)
X = rng.randn(2000, 4)
y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
b = xgb.train({"objective": "binary:logistic", "max_depth": 4, "eta": 0.3, "seed": 1, "nthread": 1},
              xgb.DMatrix(X, label=y), num_boost_round=50)
b.save_model(sys.argv[1] + "/model.ubj")
PY
then
  cat > "$registry/xgb/1/metadata.json" <<JSON
{"format_version":1,"name":"xgb","version":"1","kind":"xgboost","task":"binary","created":"2026-01-01T00:00:00Z","model_file":"model.ubj","inputs":$inputs,"metrics":{}}
JSON
else
  echo "http_bench: python3 cannot train an XGBoost model (python3-xgboost); skipping that row"
  rm -rf "$registry/xgb"
  have_xgb=0
fi

"$server_bin" "$registry" "$server_threads" > "$work/server.out" 2> "$work/server.err" &
server_pid=$!
port=""
for _ in $(seq 1 100); do
  port=$(sed -n 's/^port=//p' "$work/server.out")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || { echo "http_bench: server did not start"; cat "$work/server.err"; exit 1; }

body='0.5,-1.2,0.3,2.0'
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
run() {  # name path model
  local name=$1 path=$2 model=$3 script="$work/$1.lua"
  {
    echo 'wrk.method = "POST"'
    echo "wrk.body = \"$body\""
    echo 'wrk.headers["Content-Type"] = "text/csv"'
    if [ -n "$model" ]; then
      echo "wrk.headers[\"X-Amzn-SageMaker-Target-Model\"] = \"$model\""
    fi
  } > "$script"
  # Check one request first: a failing route would otherwise benchmark its error.
  local check
  check=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: text/csv' \
          ${model:+-H "X-Amzn-SageMaker-Target-Model: $model"} --data "$body" "http://127.0.0.1:$port$path")
  [ "$check" = 200 ] || { echo "http_bench: $path ($model) answered $check"; exit 1; }
  local cpu0 cpu1
  cpu0=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  wrk -t2 -c"$connections" -d"${duration}s" --latency -s "$script" "http://127.0.0.1:$port$path" \
      > "$work/$name.txt"
  cpu1=$(awk '{print $14 + $15}' "/proc/$server_pid/stat")
  local rps p50 p99 errors
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/$name.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/$name.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$name.txt")
  errors=$(awk '/Non-2xx|Socket errors/ {print}' "$work/$name.txt" | tr '\n' ' ')
  # Server CPU time per request (user + system, from /proc): less sensitive to other load on
  # the machine than requests/s.
  local requests cpu_us
  requests=$(awk '/requests in/ {print $1}' "$work/$name.txt")
  cpu_us=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$requests" \
           'BEGIN {printf "%.1f", t / hz * 1e6 / n}')
  echo "$name $rps $p50 $p99 $cpu_us ${errors:-none}" >> "$work/results"
}

for round in $(seq 1 "$rounds"); do
  run constant /bench/constant ""
  if [ "$have_xgb" = 1 ]; then run xgboost /invocations xgb; fi
  run linear /invocations linear
done

# The median round (by req/s) of each endpoint.
median() {  # name
  awk -v n="$1" '$1 == n' "$work/results" | sort -k2,2 -g | awk '{a[NR] = $0} END {print a[int((NR + 1) / 2)]}'
}
base=$(median constant | awk '{print $2}')
echo
echo "POST /invocations, text/csv, 1 row x 4 values; wrk -t2 -c$connections -d${duration}s; server: $server_threads I/O threads; $(nproc) CPUs; median of $rounds rounds; load average before: $load_before"
printf '%-10s %12s %8s %10s %10s %14s  %s\n' endpoint "req/s" "x bare" p50 p99 "server CPU/req" errors
for name in constant xgboost linear; do
  row=$(median "$name")
  [ -n "$row" ] || continue
  read -r _ rps p50 p99 cpu_us errors <<< "$row"
  ratio=$(awk -v a="$rps" -v b="$base" 'BEGIN {printf "%.2f", a / b}')
  printf '%-10s %12s %8s %10s %10s %12s us  %s\n' "$name" "$rps" "$ratio" "$p50" "$p99" "$cpu_us" "$errors"
done
echo "all rounds (endpoint req/s p50 p99 server-CPU-us/req):"
awk '{print "  " $1, $2, $3, $4, $5}' "$work/results"
