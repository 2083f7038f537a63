#!/bin/sh
# Osprey's tuning strategies against Optuna (Debian python3-optuna, run by /usr/bin/python3) on
# the same objectives, budgets and seeds: Branin (2-D, minimum 0.397887) and Hartmann 6-D
# (minimum -3.32237). Prints one table: mean / worst regret (best found - optimum) over the
# seeds, and the CPU seconds each tuner spends per run of `trials` trials.
#   tests/bench/optuna_compare.sh BUILD_DIR [TRIALS] [SEEDS]
# BUILD_DIR needs -DOSPREY_BUILD_BENCHMARKS=ON (target osprey_tuning_bench); Optuna comes from
# `apt-get install python3-optuna`. Optuna's QMC sampler is unscrambled by default, so its seeds
# all give the same run.
set -eu
build=${1:?usage: optuna_compare.sh BUILD_DIR [TRIALS] [SEEDS]}
trials=${2:-30}
seeds=${3:-10}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
"$build/tests/bench/osprey_tuning_bench" --trials "$trials" --seeds "$seeds" --tsv > "$tmp"
/usr/bin/python3 - "$tmp" "$trials" "$seeds" <<'PY'
import math, sys, time, warnings
import optuna

warnings.filterwarnings("ignore")  # QMCSampler is marked experimental

optuna.logging.set_verbosity(optuna.logging.WARNING)
rows_file, trials, seeds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def branin(x):
    a = x[1] - 5.1 / (4 * math.pi ** 2) * x[0] ** 2 + 5 / math.pi * x[0] - 6
    return a * a + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x[0]) + 10

ALPHA = [1.0, 1.2, 3.0, 3.2]
A = [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
P = [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]

def hartmann6(x):
    return -sum(ALPHA[i] * math.exp(-sum(A[i][j] * (x[j] - 1e-4 * P[i][j]) ** 2 for j in range(6)))
                for i in range(4))

problems = [("branin", [(-5, 10), (0, 15)], branin, 0.397887),
            ("hartmann6", [(0, 1)] * 6, hartmann6, -3.32237)]
samplers = [("tpe", lambda s: optuna.samplers.TPESampler(seed=s)),
            ("cma-es", lambda s: optuna.samplers.CmaEsSampler(seed=s)),
            ("qmc-sobol", lambda s: optuna.samplers.QMCSampler(qmc_type="sobol", seed=s)),
            ("random", lambda s: optuna.samplers.RandomSampler(seed=s))]

rows = [line.rstrip("\n").split("\t") for line in open(rows_file)]
for name, box, f, optimum in problems:
    for sampler_name, make in samplers:
        best = []
        cpu0 = time.process_time()
        for s in range(1, seeds + 1):
            study = optuna.create_study(direction="minimize", sampler=make(s))
            study.optimize(lambda t: f([t.suggest_float("x%d" % d, lo, hi)
                                        for d, (lo, hi) in enumerate(box)]), n_trials=trials)
            best.append(study.best_value)
        cpu = (time.process_time() - cpu0) / seeds
        mean = sum(best) / len(best)
        rows.append(["optuna", name, sampler_name, "%.6g" % mean, "%.6g" % (mean - optimum),
                     "%.6g" % (max(best) - optimum), "%.4g" % cpu])

print("%d trials, %d seeds; regret = best found - optimum (lower is better)" % (trials, seeds))
print("%-10s %-7s %-10s %12s %12s %14s" % ("function", "tuner", "strategy", "mean regret",
                                          "worst regret", "cpu s per run"))
for fn in [p[0] for p in problems]:
    for r in sorted((r for r in rows if r[1] == fn), key=lambda r: float(r[4])):
        print("%-10s %-7s %-10s %12s %12s %14s" % (r[1], r[0], r[2], r[4], r[5], r[6]))
PY
