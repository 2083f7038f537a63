#include "models/ml/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "models/ml/internal/kmeans_dots.h"
#include "models/ml/parallel.h"
#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace internal {

bool CpuHasAvx2Fma() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (!Avx2FmaKernelBuilt()) return false;
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
#else
  return false;
#endif
}

}  // namespace internal

namespace {

using Eigen::Index;
constexpr Index kBlockRows = 2048;

// Up to this many centroids (or candidates), x c^T is evaluated as plain dot products of
// contiguous rows; a blocked GEMM only pays off for wider products (its packing costs more than
// the arithmetic when k is small: ~1.5x slower at k = 8, d = 50).
constexpr Index kDotsMaxCols = 16;

// dst (n x c.rows()) = rows [begin, begin+n) of x times c^T. The dot products run on the AVX2 +
// FMA kernel (internal/kmeans_dots.h) when the CPU has it, else on Eigen's lazyProduct (SSE2 on
// baseline x86-64). Either way each output depends on its row and c only, so results do not
// change with the thread count; the two kernels may differ in the last bits (FMA rounds once).
template <typename Dst>
void RowsTimesTransposed(const Matrix& x, Index begin, Index n, const Matrix& c, Dst&& dst) {
  static const bool avx2_fma = internal::CpuHasAvx2Fma();
  if (c.rows() <= kDotsMaxCols && avx2_fma) {
    internal::DotsAvx2Fma(x.data() + begin * x.cols(), n, x.cols(), c.data(), c.rows(), dst.data(),
                          dst.outerStride());
  } else if (c.rows() <= kDotsMaxCols) {
    const Eigen::MatrixXd ct = c.transpose();  // column-major: each column contiguous
    dst.noalias() = x.middleRows(begin, n).lazyProduct(ct);
  } else {
    dst.noalias() = x.middleRows(begin, n) * c.transpose();
  }
}

// Squared distances of rows [begin, begin+n) of x to every centroid, into d (n x k).
void BlockDistances(const Matrix& x, Index begin, Index n, const Matrix& c,
                    const Eigen::RowVectorXd& c_norms, Matrix* d) {
  auto block = d->topRows(n);
  RowsTimesTransposed(x, begin, n, c, block);
  block *= -2.0;
  block.rowwise() += c_norms;
  block.colwise() += x.middleRows(begin, n).rowwise().squaredNorm();
}

// Rows per work chunk: fixed by the data size only (at most kMaxChunks chunks of at least
// kMinChunkRows rows), so per-chunk partial results merged in chunk order do not depend on the
// thread count.
constexpr Index kMinChunkRows = 8192;
constexpr Index kMaxChunks = 64;

Index ChunkRows(Index n) {
  return std::max(kMinChunkRows, (n + kMaxChunks - 1) / kMaxChunks);
}
size_t NumChunks(Index n) {
  const Index rows = ChunkRows(n);
  return static_cast<size_t>((n + rows - 1) / rows);
}

// Per-chunk partial sums of one assignment pass.
struct ChunkSums {
  Matrix sums;                 // k x features (only when wanted)
  std::vector<double> counts;  // k
  double inertia = 0.0;
};

// Assigns every row (labels/d2 sized n) on `threads` threads; returns the inertia. With
// `sums`/`counts` non-null, also the per-cluster row sums and counts (for Lloyd's update),
// merged in chunk order.
double AssignAll(const Matrix& x, const Matrix& c, std::vector<int>* labels,
                 std::vector<double>* d2, int threads, Matrix* sums = nullptr,
                 std::vector<double>* counts = nullptr) {
  const Index n = x.rows();
  const Index k = c.rows();
  labels->resize(static_cast<size_t>(n));
  d2->resize(static_cast<size_t>(n));
  const Eigen::RowVectorXd c_norms = c.rowwise().squaredNorm().transpose();
  const Index chunk_rows = ChunkRows(n);
  const size_t chunks = NumChunks(n);
  const bool want_sums = sums != nullptr;
  std::vector<ChunkSums> parts(chunks);
  ParallelChunks(chunks, threads, [&](size_t chunk) {
    ChunkSums& part = parts[chunk];
    if (want_sums) {
      part.sums = Matrix::Zero(k, x.cols());
      part.counts.assign(static_cast<size_t>(k), 0.0);
    }
    const Index chunk_begin = static_cast<Index>(chunk) * chunk_rows;
    const Index chunk_end = std::min(n, chunk_begin + chunk_rows);
    Matrix d(std::min(kBlockRows, chunk_end - chunk_begin), k);
    for (Index begin = chunk_begin; begin < chunk_end; begin += kBlockRows) {
      const Index m = std::min(kBlockRows, chunk_end - begin);
      BlockDistances(x, begin, m, c, c_norms, &d);
      for (Index r = 0; r < m; ++r) {
        Index arg = 0;
        const double best = std::max(0.0, d.row(r).minCoeff(&arg));
        (*labels)[static_cast<size_t>(begin + r)] = static_cast<int>(arg);
        (*d2)[static_cast<size_t>(begin + r)] = best;
        part.inertia += best;
        if (want_sums) {
          part.sums.row(arg) += x.row(begin + r);
          part.counts[static_cast<size_t>(arg)] += 1.0;
        }
      }
    }
  });
  double inertia = 0.0;
  if (want_sums) {
    sums->setZero(k, x.cols());
    counts->assign(static_cast<size_t>(k), 0.0);
  }
  for (const ChunkSums& part : parts) {
    inertia += part.inertia;
    if (want_sums) {
      *sums += part.sums;
      for (Index j = 0; j < k; ++j) {
        (*counts)[static_cast<size_t>(j)] += part.counts[static_cast<size_t>(j)];
      }
    }
  }
  return inertia;
}

// The squared deviation from the column means, averaged over all entries (two chunk-parallel
// passes over x, partial sums merged in chunk order: the same value for any thread count).
double MeanVariance(const Matrix& x, int threads) {
  const Index n = x.rows();
  const Index chunk_rows = ChunkRows(n);
  const size_t chunks = NumChunks(n);
  Matrix col_sums = Matrix::Zero(static_cast<Index>(chunks), x.cols());
  ParallelChunks(chunks, threads, [&](size_t chunk) {
    const Index begin = static_cast<Index>(chunk) * chunk_rows;
    const Index end = std::min(n, begin + chunk_rows);
    auto sum = col_sums.row(static_cast<Index>(chunk));
    for (Index r = begin; r < end; ++r) sum += x.row(r);
  });
  Eigen::RowVectorXd mean = Eigen::RowVectorXd::Zero(x.cols());
  for (Index chunk = 0; chunk < static_cast<Index>(chunks); ++chunk) mean += col_sums.row(chunk);
  mean /= static_cast<double>(n);
  std::vector<double> squares(chunks, 0.0);
  ParallelChunks(chunks, threads, [&](size_t chunk) {
    const Index begin = static_cast<Index>(chunk) * chunk_rows;
    const Index m = std::min(chunk_rows, n - begin);
    squares[chunk] = (x.middleRows(begin, m).rowwise() - mean).squaredNorm();
  });
  double total = 0.0;
  for (double v : squares) total += v;
  return total / static_cast<double>(n * std::max<Index>(1, x.cols()));
}

// Sample an index with probability proportional to weights (sum > 0).
size_t SampleWeighted(const std::vector<double>& weights, double sum, rcf::Rng& rng) {
  const double target = rng.NextDouble() * sum;
  double acc = 0.0;
  for (size_t idx = 0; idx < weights.size(); ++idx) {
    acc += weights[idx];
    if (acc > target) return idx;
  }
  return weights.size() - 1;
}

Matrix InitCentroids(const Matrix& x, const KMeansOptions& options, rcf::Rng& rng) {
  const Index n = x.rows();
  const int k = options.k;
  Matrix c(k, x.cols());
  if (options.init_method == KMeansInit::kRandom) {
    // k distinct rows.
    std::vector<size_t> pool(static_cast<size_t>(n));
    std::iota(pool.begin(), pool.end(), size_t{0});
    for (int j = 0; j < k; ++j) {
      const size_t pick =
          static_cast<size_t>(j) +
          static_cast<size_t>(rng.NextU64() % (pool.size() - static_cast<size_t>(j)));
      std::swap(pool[static_cast<size_t>(j)], pool[pick]);
      c.row(j) = x.row(static_cast<Index>(pool[static_cast<size_t>(j)]));
    }
    return c;
  }
  // k-means++ with greedy local trials (2 + ln k candidates per step; Arthur & Vassilvitskii).
  // All candidates of a step are sampled first (they depend only on the current distances),
  // then scored in ONE pass over x: per chunk of rows, one matrix product against the
  // candidates, |x - c|^2 = |x|^2 - 2 x.c + |c|^2.
  const int trials = 2 + static_cast<int>(std::log(static_cast<double>(k)));
  const int threads = ResolveThreads(options.num_threads);
  const Index chunk_rows = ChunkRows(n);
  const size_t chunks = NumChunks(n);
  Eigen::VectorXd norms(n);
  ParallelChunks(chunks, threads, [&](size_t chunk) {
    const Index begin = static_cast<Index>(chunk) * chunk_rows;
    const Index m = std::min(chunk_rows, n - begin);
    norms.segment(begin, m) = x.middleRows(begin, m).rowwise().squaredNorm();
  });
  std::vector<double> d2(static_cast<size_t>(n), std::numeric_limits<double>::infinity());
  std::vector<std::vector<double>> candidate_d2(static_cast<size_t>(trials));
  // Fills candidate_d2[t] = min(d2, distance to rows[t]); returns each candidate's potential.
  auto score = [&](const std::vector<Index>& rows) {
    const auto t_count = static_cast<Index>(rows.size());
    Matrix cand(t_count, x.cols());
    for (Index t = 0; t < t_count; ++t) cand.row(t) = x.row(rows[static_cast<size_t>(t)]);
    for (Index t = 0; t < t_count; ++t) candidate_d2[static_cast<size_t>(t)].resize(d2.size());
    Matrix pots = Matrix::Zero(static_cast<Index>(chunks), t_count);
    ParallelChunks(chunks, threads, [&](size_t chunk) {
      const Index chunk_begin = static_cast<Index>(chunk) * chunk_rows;
      const Index chunk_end = std::min(n, chunk_begin + chunk_rows);
      Matrix dots(std::min(kBlockRows, chunk_end - chunk_begin), t_count);
      for (Index begin = chunk_begin; begin < chunk_end; begin += kBlockRows) {
        const Index m = std::min(kBlockRows, chunk_end - begin);
        RowsTimesTransposed(x, begin, m, cand, dots.topRows(m));
        for (Index t = 0; t < t_count; ++t) {
          const double cn = norms[rows[static_cast<size_t>(t)]];
          double* out = candidate_d2[static_cast<size_t>(t)].data();
          double pot = 0.0;
          for (Index r = 0; r < m; ++r) {
            const Index row = begin + r;
            const double v = std::min(d2[static_cast<size_t>(row)],
                                      std::max(0.0, norms[row] - 2.0 * dots(r, t) + cn));
            out[row] = v;
            pot += v;
          }
          pots(static_cast<Index>(chunk), t) += pot;
        }
      }
    });
    std::vector<double> total(static_cast<size_t>(t_count), 0.0);
    for (Index chunk = 0; chunk < static_cast<Index>(chunks); ++chunk) {
      for (Index t = 0; t < t_count; ++t) total[static_cast<size_t>(t)] += pots(chunk, t);
    }
    return total;
  };
  const auto first = static_cast<Index>(rng.NextU64() % static_cast<uint64_t>(n));
  c.row(0) = x.row(first);
  double potential = score({first})[0];
  d2.swap(candidate_d2[0]);
  for (int j = 1; j < k; ++j) {
    std::vector<Index> rows(static_cast<size_t>(trials));
    for (int t = 0; t < trials; ++t) {
      rows[static_cast<size_t>(t)] = static_cast<Index>(
          potential > 0 ? SampleWeighted(d2, potential, rng)
                        : static_cast<size_t>(rng.NextU64() % static_cast<uint64_t>(n)));
    }
    const std::vector<double> pots = score(rows);
    size_t best = 0;
    for (size_t t = 1; t < pots.size(); ++t) {
      if (pots[t] < pots[best]) best = t;
    }
    c.row(j) = x.row(rows[best]);
    d2.swap(candidate_d2[best]);
    potential = pots[best];
  }
  return c;
}

// New centroids as the means of their rows; an empty cluster takes the row farthest from its
// centroid (so k clusters survive).
void UpdateCentroids(const Matrix& x, const std::vector<int>& labels, std::vector<double>& d2,
                     Matrix* c) {
  const Index k = c->rows();
  Matrix sums = Matrix::Zero(k, x.cols());
  std::vector<double> counts(static_cast<size_t>(k), 0.0);
  for (Index r = 0; r < x.rows(); ++r) {
    const int l = labels[static_cast<size_t>(r)];
    sums.row(l) += x.row(r);
    counts[static_cast<size_t>(l)] += 1.0;
  }
  for (Index j = 0; j < k; ++j) {
    if (counts[static_cast<size_t>(j)] > 0) {
      c->row(j) = sums.row(j) / counts[static_cast<size_t>(j)];
    } else {
      const auto far = static_cast<Index>(std::max_element(d2.begin(), d2.end()) - d2.begin());
      c->row(j) = x.row(far);
      d2[static_cast<size_t>(far)] = 0.0;
    }
  }
}

// Replaces c by the means in sums/counts; an empty cluster takes the row farthest from its
// centroid (so k clusters survive).
void MeansOrFarthest(const Matrix& x, const Matrix& sums, const std::vector<double>& counts,
                     std::vector<double>& d2, Matrix* c) {
  for (Index j = 0; j < c->rows(); ++j) {
    if (counts[static_cast<size_t>(j)] > 0) {
      c->row(j) = sums.row(j) / counts[static_cast<size_t>(j)];
    } else {
      const auto far = static_cast<Index>(std::max_element(d2.begin(), d2.end()) - d2.begin());
      c->row(j) = x.row(far);
      d2[static_cast<size_t>(far)] = 0.0;
    }
  }
}

// Lloyd's iterations; the assignment pass also accumulates the cluster sums (one read of x per
// iteration), chunk-parallel.
double Lloyd(const Matrix& x, const KMeansOptions& options, double tol, Matrix* c,
             const ProgressCallback& progress, int* iterations) {
  const int threads = ResolveThreads(options.num_threads);
  std::vector<int> labels;
  std::vector<double> d2;
  Matrix sums;
  std::vector<double> counts;
  double inertia = 0.0;
  for (int it = 1; it <= options.epochs; ++it) {
    inertia = AssignAll(x, *c, &labels, &d2, threads, &sums, &counts);
    Matrix old = *c;
    MeansOrFarthest(x, sums, counts, d2, c);
    *iterations = it;
    if (progress) progress(it, options.epochs, inertia);
    if ((*c - old).squaredNorm() <= tol) break;
  }
  return inertia;
}

double Elkan(const Matrix& x, const KMeansOptions& options, double tol, Matrix* c,
             const ProgressCallback& progress, int* iterations) {
  const Index n = x.rows();
  const Index k = c->rows();
  std::vector<int> labels;
  std::vector<double> d2;
  AssignAll(x, *c, &labels, &d2, ResolveThreads(options.num_threads));
  // Lower bounds start exact: one pass of full distances.
  Matrix lower(n, k);
  {
    const Eigen::RowVectorXd c_norms = c->rowwise().squaredNorm().transpose();
    Matrix d(std::min(kBlockRows, n), k);
    for (Index begin = 0; begin < n; begin += kBlockRows) {
      const Index m = std::min(kBlockRows, n - begin);
      BlockDistances(x, begin, m, *c, c_norms, &d);
      lower.middleRows(begin, m) = d.topRows(m).cwiseMax(0.0).cwiseSqrt();
    }
  }
  std::vector<double> upper(static_cast<size_t>(n));
  for (Index r = 0; r < n; ++r)
    upper[static_cast<size_t>(r)] = std::sqrt(d2[static_cast<size_t>(r)]);
  Matrix cc(k, k);
  std::vector<double> s(static_cast<size_t>(k));
  double inertia = 0.0;
  for (int it = 1; it <= options.epochs; ++it) {
    for (Index a = 0; a < k; ++a) {
      for (Index b = 0; b < k; ++b) cc(a, b) = (c->row(a) - c->row(b)).norm();
    }
    for (Index a = 0; a < k; ++a) {
      double m = std::numeric_limits<double>::infinity();
      for (Index b = 0; b < k; ++b) {
        if (b != a) m = std::min(m, cc(a, b));
      }
      s[static_cast<size_t>(a)] = 0.5 * m;
    }
    for (Index r = 0; r < n; ++r) {
      const auto ri = static_cast<size_t>(r);
      Index a = labels[ri];
      if (upper[ri] <= s[static_cast<size_t>(a)]) continue;
      bool stale = true;
      for (Index j = 0; j < k; ++j) {
        if (j == a || upper[ri] <= lower(r, j) || upper[ri] <= 0.5 * cc(a, j)) continue;
        if (stale) {
          upper[ri] = (x.row(r) - c->row(a)).norm();
          lower(r, a) = upper[ri];
          stale = false;
          if (upper[ri] <= lower(r, j) || upper[ri] <= 0.5 * cc(a, j)) continue;
        }
        const double d = (x.row(r) - c->row(j)).norm();
        lower(r, j) = d;
        if (d < upper[ri]) {
          a = j;
          upper[ri] = d;
        }
      }
      labels[ri] = static_cast<int>(a);
    }
    for (Index r = 0; r < n; ++r) {
      d2[static_cast<size_t>(r)] = upper[static_cast<size_t>(r)] * upper[static_cast<size_t>(r)];
    }
    Matrix old = *c;
    UpdateCentroids(x, labels, d2, c);
    Eigen::VectorXd shift = (*c - old).rowwise().norm();
    for (Index r = 0; r < n; ++r) {
      lower.row(r) = (lower.row(r) - shift.transpose()).cwiseMax(0.0);
      upper[static_cast<size_t>(r)] += shift[labels[static_cast<size_t>(r)]];
    }
    *iterations = it;
    inertia = 0.0;  // an upper bound during the loop; the exact value is computed at the end
    for (double v : upper) inertia += v * v;
    if (progress) progress(it, options.epochs, inertia);
    if (shift.squaredNorm() <= tol) break;
  }
  return inertia;
}

void MiniBatch(const Matrix& x, const KMeansOptions& options, rcf::Rng& rng, Matrix* c,
               const ProgressCallback& progress, int* iterations) {
  const Index n = x.rows();
  const Index b = std::min<Index>(options.mini_batch_size, n);
  const Index steps_per_epoch = (n + b - 1) / b;
  std::vector<double> counts(static_cast<size_t>(c->rows()), 0.0);
  Matrix batch(b, x.cols());
  Matrix d(b, c->rows());
  for (int epoch = 1; epoch <= options.epochs; ++epoch) {
    for (Index step = 0; step < steps_per_epoch; ++step) {
      for (Index r = 0; r < b; ++r) {
        batch.row(r) = x.row(static_cast<Index>(rng.NextU64() % static_cast<uint64_t>(n)));
      }
      const Eigen::RowVectorXd c_norms = c->rowwise().squaredNorm().transpose();
      BlockDistances(batch, 0, b, *c, c_norms, &d);
      for (Index r = 0; r < b; ++r) {
        Index arg = 0;
        d.row(r).minCoeff(&arg);
        double& count = counts[static_cast<size_t>(arg)];
        count += 1.0;
        c->row(arg) += (batch.row(r) - c->row(arg)) / count;
      }
    }
    *iterations = epoch;
    if (progress) progress(epoch, options.epochs, std::numeric_limits<double>::quiet_NaN());
  }
}

}  // namespace

Result<KMeansOptions> KMeansOptions::FromHyperparameters(
    const Hyperparameters& params, std::vector<HyperparameterProblem>* problems) {
  KMeansOptions o;
  HyperparameterReader r(params);
  r.Int("k", &o.k, 1, 1 << 20);
  if (!params.contains("k")) {
    if (problems != nullptr) *problems = {{"k", "required"}};
    return Status::InvalidArgument("k: required");
  }
  int init = 1;
  r.Choice("init_method", &init, {"random", "kmeans++"});
  o.init_method = static_cast<KMeansInit>(init);
  int algorithm = 0;
  r.Choice("algorithm", &algorithm, {"lloyd", "elkan"});
  o.algorithm = static_cast<KMeansAlgorithm>(algorithm);
  r.Int("epochs", &o.epochs, 1, 1000000);
  r.Int("mini_batch_size", &o.mini_batch_size, 0, 1 << 24);
  r.Double("tol", &o.tol, 0.0);
  r.UInt64("seed", &o.seed);
  r.Finish();
  if (!r.ok()) {
    if (problems != nullptr) *problems = r.problems();
    return r.ToStatus();
  }
  return o;
}

void KMeansModel::Assign(const Matrix& x, std::vector<int>* labels,
                         std::vector<double>* distances) const {
  AssignAll(x, centroids, labels, distances, ResolveThreads(0));
  for (double& d : *distances) d = std::sqrt(d);
}

Result<KMeansModel> FitKMeans(const Matrix& x, const KMeansOptions& options,
                              const ProgressCallback& progress,
                              KMeansAssignment* train_assignment) {
  if (options.k < 1) return Status::InvalidArgument("k must be >= 1");
  if (x.rows() < options.k) {
    return Status::InvalidArgument("k = " + std::to_string(options.k) + " but only " +
                                   std::to_string(x.rows()) + " rows");
  }
  // Tolerance relative to the data's scale. A NaN anywhere makes the variance NaN (so only
  // then is x searched for one: inf - inf makes NaN too).
  const double mean_var = MeanVariance(x, ResolveThreads(options.num_threads));
  if (std::isnan(mean_var) && HasMissing(x)) {
    return Status::InvalidArgument(
        "missing values in the data (set preparation.missing to impute or drop rows)");
  }
  const double tol = options.tol * mean_var;
  rcf::Rng rng(options.seed);
  KMeansModel model;
  model.centroids = InitCentroids(x, options, rng);
  if (options.mini_batch_size > 0) {
    MiniBatch(x, options, rng, &model.centroids, progress, &model.iterations);
  } else if (options.algorithm == KMeansAlgorithm::kElkan && options.k > 1) {
    Elkan(x, options, tol, &model.centroids, progress, &model.iterations);
  } else {
    Lloyd(x, options, tol, &model.centroids, progress, &model.iterations);
  }
  KMeansAssignment local;
  KMeansAssignment& a = train_assignment != nullptr ? *train_assignment : local;
  model.inertia = AssignAll(x, model.centroids, &a.labels, &a.squared_distances,
                            ResolveThreads(options.num_threads));
  return model;
}

}  // namespace osprey::models::ml
