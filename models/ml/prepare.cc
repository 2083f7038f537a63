#include "models/ml/prepare.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <utility>

#include "config/base/check.h"
#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Uniform in [0, bound) without modulo bias (Lemire).
uint64_t Below(rcf::Rng& rng, uint64_t bound) {
  __uint128_t m = static_cast<__uint128_t>(rng.NextU64()) * bound;
  auto low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = static_cast<__uint128_t>(rng.NextU64()) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

void Shuffle(std::vector<size_t>& v, rcf::Rng& rng) {
  for (size_t idx = v.size(); idx > 1; --idx) {
    std::swap(v[idx - 1], v[Below(rng, idx)]);
  }
}

// Rows grouped by class, in ascending class order.
std::vector<std::vector<size_t>> GroupByClass(const std::vector<int>& classes) {
  std::map<int, std::vector<size_t>> groups;
  for (size_t row = 0; row < classes.size(); ++row) groups[classes[row]].push_back(row);
  std::vector<std::vector<size_t>> out;
  for (auto& [cls, rows] : groups) out.push_back(std::move(rows));
  return out;
}

}  // namespace

Imputer Imputer::Fit(const Dataset& train, const ImputerOptions& options) {
  OSPREY_CHECK(options.policy != MissingPolicy::kDropRows);
  Imputer imp;
  imp.options_ = options;
  const Eigen::Index n = train.x.rows();
  imp.fill_.assign(train.cols(), kNaN);
  if (options.policy == MissingPolicy::kKeep && !options.add_indicators) return imp;
  // One pass: the column sums (a GEMV). NaN propagates through the sums, so when none is NaN no
  // value is missing and every count is n; otherwise a row-major pass counts and sums the
  // non-missing values per column (means; which columns have gaps).
  const auto cols = static_cast<Eigen::Index>(train.cols());
  Eigen::RowVectorXd sums = (train.x.transpose() * Eigen::VectorXd::Ones(n)).transpose();
  Eigen::RowVectorXd counts = Eigen::RowVectorXd::Constant(cols, static_cast<double>(n));
  if (sums.array().isNaN().any()) {
    sums.setZero();
    counts.setZero();
    for (Eigen::Index row = 0; row < n; ++row) {
      const auto r = train.x.row(row).array();
      counts.array() += (r == r).cast<double>();  // NaN != NaN
      sums.array() += (r == r).select(r, 0.0);
    }
  }
  std::vector<double> values;
  for (size_t col = 0; col < train.cols(); ++col) {
    const auto c = static_cast<Eigen::Index>(col);
    if (options.add_indicators && counts[c] < static_cast<double>(n)) {
      imp.indicators_.push_back(col);
    }
    if (options.policy == MissingPolicy::kKeep) continue;
    if (counts[c] == 0) {
      imp.fill_[col] = 0.0;
      continue;
    }
    if (options.policy == MissingPolicy::kMean &&
        train.columns[col].type != ColumnType::kCategorical) {
      imp.fill_[col] = sums[c] / counts[c];
      continue;
    }
    values.clear();
    values.reserve(static_cast<size_t>(n));
    values.clear();
    for (Eigen::Index row = 0; row < n; ++row) {
      double v = train.x(row, c);
      if (!std::isnan(v)) values.push_back(v);
    }
    // Categorical codes have no mean or median: they take the most frequent category.
    MissingPolicy policy = options.policy;
    if (train.columns[col].type == ColumnType::kCategorical) policy = MissingPolicy::kMostFrequent;
    switch (policy) {
      case MissingPolicy::kMean: {
        double sum = 0.0;
        for (double v : values) sum += v;
        imp.fill_[col] = sum / static_cast<double>(values.size());
        break;
      }
      case MissingPolicy::kMedian: {
        const size_t mid = values.size() / 2;
        std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid),
                         values.end());
        double hi = values[mid];
        if (values.size() % 2 == 1) {
          imp.fill_[col] = hi;
        } else {
          double lo =
              *std::max_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(mid));
          imp.fill_[col] = 0.5 * (lo + hi);
        }
        break;
      }
      case MissingPolicy::kMostFrequent: {
        std::sort(values.begin(), values.end());
        double best = values[0];
        size_t best_count = 0;
        for (size_t idx = 0; idx < values.size();) {
          size_t end = idx;
          while (end < values.size() && values[end] == values[idx]) ++end;
          if (end - idx > best_count) {
            best_count = end - idx;
            best = values[idx];
          }
          idx = end;
        }
        imp.fill_[col] = best;
        break;
      }
      case MissingPolicy::kKeep:
      case MissingPolicy::kDropRows:
        break;
    }
  }
  return imp;
}

void Imputer::Apply(Dataset* data) const {
  OSPREY_CHECK(data->cols() == fill_.size()) << "imputer fitted on another schema";
  const Eigen::Index n = data->x.rows();
  const auto base_cols = static_cast<Eigen::Index>(fill_.size());
  if (!indicators_.empty()) {
    Matrix wider(n, base_cols + static_cast<Eigen::Index>(indicators_.size()));
    wider.leftCols(base_cols) = data->x;
    for (size_t idx = 0; idx < indicators_.size(); ++idx) {
      const auto src = static_cast<Eigen::Index>(indicators_[idx]);
      wider.col(base_cols + static_cast<Eigen::Index>(idx)) =
          data->x.col(src).array().isNaN().cast<double>();
      data->columns.push_back(
          Column{data->columns[indicators_[idx]].name + "_missing", ColumnType::kNumeric, {}});
    }
    data->x = std::move(wider);
  }
  // (Indicator columns are 0/1, never NaN: testing the whole matrix is testing the inputs.)
  if (!HasMissing(data->x)) return;
  for (Eigen::Index row = 0; row < n; ++row) {
    for (Eigen::Index col = 0; col < base_cols; ++col) {
      double& v = data->x(row, col);
      if (std::isnan(v)) v = fill_[static_cast<size_t>(col)];  // stays NaN where fill is NaN
    }
  }
}

Dataset DropMissingRows(const Dataset& data) {
  std::vector<size_t> keep;
  keep.reserve(data.rows());
  for (Eigen::Index row = 0; row < data.x.rows(); ++row) {
    if (!data.x.row(row).array().isNaN().any()) keep.push_back(static_cast<size_t>(row));
  }
  return data.Rows(keep);
}

void PermuteRows(const std::vector<size_t>& order, Dataset* data) {
  const size_t n = order.size();
  OSPREY_CHECK(n == data->rows()) << "PermuteRows: " << n << " indices for " << data->rows()
                                  << " rows";
  Matrix& x = data->x;
  Vector& y = data->y;
  const bool labels = y.size() == x.rows();
  const auto row_bytes = static_cast<size_t>(x.cols()) * sizeof(double);
  std::vector<bool> placed(n, false);
  Eigen::RowVectorXd first(x.cols());
  for (size_t start = 0; start < n; ++start) {
    if (placed[start]) continue;
    // The cycle start <- order[start] <- order[order[start]] ... : each row takes its source's
    // values, the source is next; the first row's values are kept aside for the cycle's end.
    first = x.row(static_cast<Eigen::Index>(start));
    const double first_y = labels ? y[static_cast<Eigen::Index>(start)] : 0.0;
    // Sources are scattered: prefetch the row kAhead steps further along the cycle.
    constexpr int kAhead = 8;
    size_t ahead = start;
    for (int step = 0; step < kAhead && order[ahead] != start; ++step) ahead = order[ahead];
    size_t row = start;
    while (true) {
      OSPREY_CHECK(!placed[row]) << "PermuteRows: not a permutation";
      placed[row] = true;
      const size_t src = order[row];
      OSPREY_CHECK(src < n) << "PermuteRows: index " << src << " out of range";
      const auto dst = static_cast<Eigen::Index>(row);
      if (src == start) {
        x.row(dst) = first;
        if (labels) y[dst] = first_y;
        break;
      }
      if (order[ahead] != start) {
        ahead = order[ahead];
        const auto* p =
            reinterpret_cast<const char*>(x.row(static_cast<Eigen::Index>(ahead)).data());
        for (size_t byte = 0; byte < row_bytes; byte += 64) __builtin_prefetch(p + byte);
      }
      x.row(dst) = x.row(static_cast<Eigen::Index>(src));
      if (labels) y[dst] = y[static_cast<Eigen::Index>(src)];
      row = src;
    }
  }
}

std::vector<size_t> ShuffledIndices(size_t n, uint64_t seed) {
  std::vector<size_t> v(n);
  std::iota(v.begin(), v.end(), size_t{0});
  rcf::Rng rng(seed);
  Shuffle(v, rng);
  return v;
}

Status SplitFractions::Validate() const {
  for (double f : {train, validation, test}) {
    if (!(f >= 0.0 && f <= 1.0))
      return Status::InvalidArgument("split fractions must be in [0, 1]");
  }
  if (train <= 0.0) return Status::InvalidArgument("split: train fraction must be > 0");
  if (std::abs(train + validation + test - 1.0) > 1e-9) {
    return Status::InvalidArgument("split fractions must sum to 1");
  }
  return Status::Ok();
}

Split TrainValidationTestSplit(size_t n, const SplitFractions& fractions, uint64_t seed,
                               const std::vector<int>& classes) {
  OSPREY_CHECK(classes.empty() || classes.size() == n);
  rcf::Rng rng(seed);
  std::vector<std::vector<size_t>> groups;
  if (classes.empty()) {
    groups.emplace_back(n);
    std::iota(groups[0].begin(), groups[0].end(), size_t{0});
  } else {
    groups = GroupByClass(classes);
  }
  Split split;
  for (auto& group : groups) {
    Shuffle(group, rng);
    const auto size = static_cast<double>(group.size());
    auto n_test = static_cast<size_t>(std::llround(size * fractions.test));
    auto n_val = static_cast<size_t>(std::llround(size * fractions.validation));
    n_test = std::min(n_test, group.size());
    n_val = std::min(n_val, group.size() - n_test);
    size_t idx = 0;
    for (; idx < n_test; ++idx) split.test.push_back(group[idx]);
    for (; idx < n_test + n_val; ++idx) split.validation.push_back(group[idx]);
    for (; idx < group.size(); ++idx) split.train.push_back(group[idx]);
  }
  // Interleave the classes again.
  Shuffle(split.train, rng);
  Shuffle(split.validation, rng);
  Shuffle(split.test, rng);
  return split;
}

std::vector<Fold> KFold(size_t n, int k, uint64_t seed, const std::vector<int>& classes) {
  OSPREY_CHECK(k >= 2 && static_cast<size_t>(k) <= n);
  OSPREY_CHECK(classes.empty() || classes.size() == n);
  rcf::Rng rng(seed);
  std::vector<std::vector<size_t>> groups;
  if (classes.empty()) {
    groups.emplace_back(n);
    std::iota(groups[0].begin(), groups[0].end(), size_t{0});
  } else {
    groups = GroupByClass(classes);
  }
  std::vector<int> fold_of(n, 0);
  size_t next = 0;  // continues across classes so fold sizes differ by at most one
  for (auto& group : groups) {
    Shuffle(group, rng);
    for (size_t row : group) fold_of[row] = static_cast<int>(next++ % static_cast<size_t>(k));
  }
  std::vector<Fold> folds(static_cast<size_t>(k));
  for (size_t row = 0; row < n; ++row) {
    for (int f = 0; f < k; ++f) {
      (fold_of[row] == f ? folds[static_cast<size_t>(f)].test : folds[static_cast<size_t>(f)].train)
          .push_back(row);
    }
  }
  return folds;
}

std::vector<Fold> LeaveOneOut(size_t n) {
  std::vector<Fold> folds(n);
  for (size_t f = 0; f < n; ++f) {
    folds[f].test.push_back(f);
    folds[f].train.reserve(n - 1);
    for (size_t row = 0; row < n; ++row) {
      if (row != f) folds[f].train.push_back(row);
    }
  }
  return folds;
}

CvSummary Summarize(std::vector<double> values) {
  CvSummary s;
  s.values = std::move(values);
  if (s.values.empty()) return s;
  double sum = 0.0;
  for (double v : s.values) sum += v;
  s.mean = sum / static_cast<double>(s.values.size());
  if (s.values.size() > 1) {
    double ss = 0.0;
    for (double v : s.values) ss += (v - s.mean) * (v - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(s.values.size() - 1));
  }
  return s;
}

Result<CvSummary> CrossValidate(
    const std::vector<Fold>& folds,
    const std::function<Result<double>(const std::vector<size_t>&, const std::vector<size_t>&)>&
        fit_and_score) {
  std::vector<double> values;
  values.reserve(folds.size());
  for (size_t f = 0; f < folds.size(); ++f) {
    auto score = fit_and_score(folds[f].train, folds[f].test);
    if (!score.ok()) {
      return Status(score.status().code() == Status::Code::kInvalidArgument
                        ? Status::InvalidArgument("fold " + std::to_string(f + 1) + ": " +
                                                  score.status().message())
                        : score.status());
    }
    values.push_back(*score);
  }
  return Summarize(std::move(values));
}

std::vector<int> ClassesOf(const Dataset& data) {
  OSPREY_CHECK(data.has_label);
  std::vector<int> out(data.rows());
  for (size_t row = 0; row < out.size(); ++row) {
    out[row] = static_cast<int>(std::lround(data.y[static_cast<Eigen::Index>(row)]));
  }
  return out;
}

}  // namespace osprey::models::ml
