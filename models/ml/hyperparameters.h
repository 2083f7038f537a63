// Hyperparameters as SageMaker passes them: a map from name to string value. Each algorithm's
// options struct reads its own names through HyperparameterReader, which checks types and
// ranges and reports unknown names, so a typo fails instead of silently training a default.
// Also the progress callback shared by the training loops.
// Thread-compatible.
#pragma once

#include <functional>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/status.h"

namespace osprey::models::ml {

using Hyperparameters = std::map<std::string, std::string, std::less<>>;

// One problem with one hyperparameter; `key` lets the caller point at where it was written.
struct HyperparameterProblem {
  std::string key;
  std::string message;
};

// Called after each unit of work (epoch, iteration): done of total, and the current loss or
// objective (NaN when there is none).
using ProgressCallback = std::function<void(int done, int total, double loss)>;

class HyperparameterReader {
 public:
  // Caller keeps `params` alive for the lifetime of this object.
  explicit HyperparameterReader(const Hyperparameters& params) : params_(params) {}

  // Each reads `key` when present into *out (unchanged otherwise). "auto" leaves *out as is
  // where the algorithm documents an automatic default.
  void Int(std::string_view key, int* out, int lo, int hi);
  void Double(std::string_view key, double* out, double lo,
              double hi = std::numeric_limits<double>::infinity(), bool lo_open = false);
  void Bool(std::string_view key, bool* out);
  // One of `names`; *out = its index.
  void Choice(std::string_view key, int* out, const std::vector<std::string_view>& names);
  void UInt64(std::string_view key, uint64_t* out);

  // Reports every key never read as unknown. Then ok() tells whether all was well.
  void Finish();
  bool ok() const { return problems_.empty(); }
  const std::vector<HyperparameterProblem>& problems() const { return problems_; }
  // InvalidArgument with "key: message" per line; REQUIRES: !ok().
  Status ToStatus() const;

 private:
  const std::string* Find(std::string_view key);
  void Problem(std::string_view key, std::string message);

  const Hyperparameters& params_;
  std::set<std::string, std::less<>> read_;
  std::vector<HyperparameterProblem> problems_;
};

}  // namespace osprey::models::ml
