#!/usr/bin/env bash
# Side-by-side: `osprey train` / `osprey evaluate` against scikit-learn (Debian python3-sklearn)
# on sklearn's bundled data sets, with the SAME train/test rows (the script splits, writes
# train.csv and test.csv, trains both on train.csv and scores both on test.csv). Prints one
# table: the metric, then like-for-like fit times, CPU seconds (all threads; steadier than wall
# time when the machine is shared) and wall seconds: ours cover prepare + fit + evaluate on the
# training rows after the CSV is parsed ("fit"), sklearn's cover fit() on arrays already in
# memory (loading excluded on both sides). Then ours for the whole `osprey train` process
# (start-up, CSV parsing, publishing included; sklearn has no counterpart). Both sides use every
# core (osprey's passes over rows, sklearn's OpenMP k-means); SGDRegressor is single-threaded.
#   tests/bench/sklearn_compare.sh [--large]     (--large adds a generated 1 000 000 x 50 set)
# OSPREY_BIN (default build/daemon/osprey) selects the binary. One linear-learner setting serves
# every small set (no per-set tuning); XGBoost runs with nthread 1 on the small sets, where
# OpenMP threads cost more than they give on a shared 2-core machine.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
"$root/deploy/install-deps.sh" --bench >/dev/null
export OSPREY_BIN="${OSPREY_BIN:-$root/build/daemon/osprey}"
if [ ! -x "$OSPREY_BIN" ]; then
  echo "sklearn_compare: $OSPREY_BIN not built (ninja -C build osprey)" >&2
  exit 1
fi
export LARGE=0
if [ "${1:-}" = "--large" ]; then LARGE=1; fi
exec /usr/bin/python3 - <<'PY'
import os, re, resource, subprocess, sys, tempfile, time
import numpy as np
from sklearn import datasets, metrics
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LinearRegression, LogisticRegression, SGDRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OSPREY = os.environ["OSPREY_BIN"]
work = tempfile.mkdtemp(prefix="osprey-sklearn-")
rows = []

def write_csv(path, x, y=None):
    data = x if y is None else np.column_stack([y, x])
    np.savetxt(path, data, delimiter=",", fmt="%.10g")

def osprey_train(name, algorithm, hp, label=True):
    yaml = [f"name: {name}", f"registry: {work}/registry",
            f"data: {{path: {name}.train.csv, label_index: {0 if label else -1}}}",
            "preparation: {split: {train: 1.0, validation: 0.0, test: 0.0}}",
            f"algorithm: {algorithm}", "hyperparameters:"]
    yaml += [f"  {k}: {v}" for k, v in hp.items()]
    with open(f"{work}/{name}.yaml", "w") as f:
        f.write("\n".join(yaml) + "\n")
    t0 = time.perf_counter()
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([OSPREY, "train", "-c", f"{work}/{name}.yaml"], capture_output=True, text=True)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"osprey train {name} failed:\n{out.stderr}")
    total_cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    fit_cpu = float(re.search(r"^cpu time\s+load \S+ s, train (\S+) s", out.stdout, re.M).group(1))
    fit_wall = float(re.search(r"^time\s+load \S+ s, train (\S+) s", out.stdout, re.M).group(1))
    return out.stdout, (fit_cpu, total_cpu, elapsed, fit_wall)

def timed_fit(model, *args):
    c0, t0 = time.process_time(), time.perf_counter()
    model.fit(*args)
    return (time.process_time() - c0, time.perf_counter() - t0)

def osprey_metric(name, metric, label=True):
    out = subprocess.run([OSPREY, "evaluate", "-r", f"{work}/registry", "-m", name, "-d",
                          f"{work}/{name}.test.csv", "--label-index", "0" if label else "-1"],
                         capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"osprey evaluate {name} failed:\n{out.stderr}")
    m = re.search(rf"^{metric}\s+(\S+)$", out.stdout, re.M)
    return float(m.group(1))

def split(x, y, stratify=True):
    return train_test_split(x, y, test_size=0.2, random_state=7, stratify=y if stratify else None)

def classify(dname, x, y, hp, model):
    xtr, xte, ytr, yte = split(x, y)
    name = f"{dname}-linear"
    write_csv(f"{work}/{name}.train.csv", xtr, ytr)
    write_csv(f"{work}/{name}.test.csv", xte, yte)
    _, ours_t = osprey_train(name, "linear_learner", hp)
    ours = osprey_metric(name, "accuracy")
    theirs_t = timed_fit(model, xtr, ytr)
    theirs = metrics.accuracy_score(yte, model.predict(xte))
    rows.append((dname, "linear_learner vs LogisticRegression", "accuracy", ours, theirs, ours_t, theirs_t))

def lr_hp(kind, **extra):
    hp = {"predictor_type": kind, "mini_batch_size": 32, "epochs": 100, "learning_rate": 0.02,
          "wd": 0.0001, "early_stopping_patience": 10}
    hp.update(extra)
    return hp

bc = datasets.load_breast_cancer()
classify("breast_cancer", bc.data, bc.target, lr_hp("binary_classifier"),
         make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)))
for loader in (datasets.load_iris, datasets.load_wine, datasets.load_digits):
    d = loader()
    dname = loader.__name__.replace("load_", "")
    classify(dname, d.data, d.target, lr_hp("multiclass_classifier", num_classes=len(set(d.target))),
             make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)))

# Regression: diabetes.
d = datasets.load_diabetes()
xtr, xte, ytr, yte = split(d.data, d.target, stratify=False)
write_csv(f"{work}/diabetes-linear.train.csv", xtr, ytr)
write_csv(f"{work}/diabetes-linear.test.csv", xte, yte)
_, ours_t = osprey_train("diabetes-linear", "linear_learner", lr_hp("regressor"))
ours = osprey_metric("diabetes-linear", "r2")
m = LinearRegression(); theirs_t = timed_fit(m, xtr, ytr)
rows.append(("diabetes", "linear_learner vs LinearRegression", "r2", ours,
             metrics.r2_score(yte, m.predict(xte)), ours_t, theirs_t))

# Gradient boosting: breast cancer.
xtr, xte, ytr, yte = split(bc.data, bc.target)
write_csv(f"{work}/breast_cancer-xgb.train.csv", xtr, ytr)
write_csv(f"{work}/breast_cancer-xgb.test.csv", xte, yte)
_, ours_t = osprey_train("breast_cancer-xgb", "xgboost",
                         {"num_round": 100, "objective": "binary:logistic", "max_depth": 3, "eta": 0.1,
                          "nthread": 1})
ours = osprey_metric("breast_cancer-xgb", "accuracy")
m = GradientBoostingClassifier(random_state=0); theirs_t = timed_fit(m, xtr, ytr)
rows.append(("breast_cancer", "xgboost vs GradientBoostingClassifier", "accuracy", ours,
             metrics.accuracy_score(yte, m.predict(xte)), ours_t, theirs_t))

# K-means and PCA: digits (no label).
dg = datasets.load_digits()
xtr, xte = train_test_split(dg.data, test_size=0.2, random_state=7)
write_csv(f"{work}/digits-kmeans.train.csv", xtr)
write_csv(f"{work}/digits-kmeans.test.csv", xte)
_, ours_t = osprey_train("digits-kmeans", "kmeans", {"k": 10, "init_method": "kmeans++"}, label=False)
ours = osprey_metric("digits-kmeans", "inertia", label=False)
m = KMeans(n_clusters=10, n_init=1, random_state=0); theirs_t = timed_fit(m, xtr)
rows.append(("digits", "kmeans vs KMeans(n_init=1)", "test inertia", ours, -m.score(xte), ours_t, theirs_t))

write_csv(f"{work}/digits-pca.train.csv", xtr)
out, ours_t = osprey_train("digits-pca", "pca", {"num_components": 10}, label=False)
ours = sum(float(v) for v in re.search(r"^variance ratio\s+(.*)$", out, re.M).group(1).split())
m = PCA(n_components=10); theirs_t = timed_fit(m, xtr)
rows.append(("digits", "pca vs PCA", "explained var", ours, m.explained_variance_ratio_.sum(), ours_t, theirs_t))

if os.environ.get("LARGE") == "1":
    rng = np.random.default_rng(1)
    n, d = 1_000_000, 50
    x = rng.normal(size=(n, d))
    w = rng.normal(size=d)
    y = x @ w + 3 + 0.5 * rng.normal(size=n)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=7)
    write_csv(f"{work}/large-linear.train.csv", xtr, ytr)
    write_csv(f"{work}/large-linear.test.csv", xte, yte)
    _, ours_t = osprey_train("large-linear", "linear_learner",
                             {"predictor_type": "regressor", "mini_batch_size": 1000, "epochs": 5})
    ours = osprey_metric("large-linear", "r2")
    m = SGDRegressor(max_iter=5, tol=None, random_state=0)
    theirs_t = timed_fit(m, xtr, ytr)
    rows.append(("generated 1M x 50", "linear_learner vs SGDRegressor", "r2", ours,
                 metrics.r2_score(yte, m.predict(xte)), ours_t, theirs_t))
    centres = rng.normal(scale=5, size=(8, d))
    xc = centres[rng.integers(0, 8, size=n)] + rng.normal(size=(n, d))
    xtr, xte = train_test_split(xc, test_size=0.2, random_state=7)
    write_csv(f"{work}/large-kmeans.train.csv", xtr)
    write_csv(f"{work}/large-kmeans.test.csv", xte)
    _, ours_t = osprey_train("large-kmeans", "kmeans", {"k": 8}, label=False)
    ours = osprey_metric("large-kmeans", "inertia", label=False)
    m = KMeans(n_clusters=8, n_init=1, random_state=0); theirs_t = timed_fit(m, xtr)
    rows.append(("generated 1M x 50", "kmeans vs KMeans(n_init=1)", "test inertia", ours,
                 -m.score(xte), ours_t, theirs_t))

print(f"{'data set':<18} {'algorithm':<40} {'metric':<14} {'osprey':>12} {'sklearn':>12} "
      f"{'cpu fit':>8} {'cpu skl':>8} {'cpu x':>6} {'wall fit':>8} {'wall skl':>8} {'wall x':>6} "
      f"{'cpu all':>8} {'wall all':>8}")
for r in rows:
    print(f"{r[0]:<18} {r[1]:<40} {r[2]:<14} {r[3]:>12.4f} {r[4]:>12.4f} "
          f"{r[5][0]:>8.3f} {r[6][0]:>8.3f} {r[5][0] / max(r[6][0], 1e-9):>6.2f} "
          f"{r[5][3]:>8.3f} {r[6][1]:>8.3f} {r[5][3] / max(r[6][1], 1e-9):>6.2f} "
          f"{r[5][1]:>8.3f} {r[5][2]:>8.3f}")
print("cpu x / wall x: osprey's fit time over sklearn's (target on the large set: <= 0.33)")
print(f"(work files in {work})")
PY
