// ThresholdedForest: anomaly grading on top of RandomCutForest (after AWS's
// ThresholdedRandomCutForest). Each input is transformed (none | normalize | difference |
// normalize_difference), scored, compared with a dynamic threshold on discounted score
// statistics (z-factor, absolute floor, warm-up), and, when it is a candidate anomaly, explained:
// which shingle position (relative index) and which input value caused it, and what value the
// forest expected there. Two known false alarms are suppressed: echoes of an earlier anomaly still
// inside the shingle (the shingle is re-scored with the earlier values replaced by their
// expected values), and tiny deviations on constant or near-constant streams (within
// ignore_near_expected_* of the expected value). The input then updates the forest.
// Besides the grade, each input gets an anomaly_score in [0, 1] meant for ranking alarms across
// streams (NAB-style): max(grade, 1 if a value leaves the range seen so far by more than
// kSpatialTolerance of that range), muted to 0 for kAlarmHoldInputs inputs after an input whose
// anomaly_score was > 0 (only the first report of an episode counts; repeats are false alarms).
// Thread-compatible: const methods may be called concurrently; mutation needs external sync.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "config/base/bytes.h"
#include "config/base/status.h"
#include "models/rcf/forest.h"
#include "models/rcf/options.h"

namespace osprey::models::rcf {

struct AnomalyDescriptor {
  int64_t index = 0;      // 0-based position of this input in the stream
  double score = 0;       // forest score of the transformed point
  double threshold = 0;   // score threshold in force for this input
  double grade = 0;       // [0, 1]; > 0 means anomalous
  double confidence = 0;  // [0, 1]; grows as the forest and the statistics fill up
  // [0, 1]: max(grade, spatial), 0 within kAlarmHoldInputs after the last input with a positive
  // anomaly_score. spatial = 1 when a value is outside [min - tol, max + tol] of the values seen
  // before (tol = kSpatialTolerance * (max - min), max > min; checked once the forest has seen
  // sample_size inputs). 0 until the forest is ready.
  double anomaly_score = 0;
  bool spatial = false;  // a value left the seen range (before the hold is applied)
  // Set when grade > 0:
  int relative_index = 0;           // 0 = this input, -k = the input k steps earlier in the shingle
  int anomalous_column = -1;        // input value with the largest attribution at that position
  std::vector<double> attribution;  // per input value at that position (high + low)
  std::vector<double> expected_values;  // what the forest expected there, original units
  std::vector<double> actual_values;    // what arrived there, original units
};

class ThresholdedForest {
 public:
  // 2 added the value range and the last alarm; version 1 snapshots still load (the range is
  // rebuilt from the kept history, no alarm hold).
  static constexpr uint8_t kFormatVersion = 2;
  // anomaly_score parameters, chosen on NAB's dev subset (one setting for all files).
  static constexpr double kSpatialTolerance = 0.02;
  static constexpr int64_t kAlarmHoldInputs = 30;

  // InvalidArgument when options.Validate() fails.
  static Result<std::unique_ptr<ThresholdedForest>> Create(const ThresholdedOptions& options);

  ThresholdedForest(const ThresholdedForest&) = delete;
  ThresholdedForest& operator=(const ThresholdedForest&) = delete;

  // Scores and grades `input` (input_dim values), then updates the model with it.
  // InvalidArgument (state unchanged) on a wrong size or a non-finite value.
  Result<AnomalyDescriptor> Process(std::span<const double> input);

  // Scores and grades `input` as Process would, without changing the model (for queries from
  // other threads under the owner's lock, and for served snapshots). The grade is the
  // threshold grade only: the echo and near-expected suppressions of Process are not applied,
  // and anomaly_score is left 0. attribution holds the newest shingle position's per-value
  // attribution whenever the forest is ready. InvalidArgument on a wrong size or a value out
  // of range.
  Result<AnomalyDescriptor> Peek(std::span<const double> input) const;

  // Forecast of the next `horizon` inputs in original units: values (the median over trees) and
  // lower / upper bounds (10% / 90% over trees) per step and input column, row-major
  // [step][column], from RandomCutForest::Forecast in the transformed space, inverted as follows:
  // - normalize: v * stddev + mean with the statistics at the current input (held fixed over the
  //   horizon, as the model would see no new input);
  // - difference: step k = last input + sum of the forecast differences of steps 1..k (the
  //   differences are first de-normalised with the difference statistics for
  //   normalize_difference); the bounds add up the per-step bounds in the same way. That sum of
  //   per-step quantiles is exact only if the steps' errors move together, so it is a
  //   conservative (wide) band, and like the forest's own bounds it reflects the spread between
  //   trees given the median path, not the compounding of errors over the horizon.
  // The forest only imputes values it has seen: with transform none or normalize, a trend (e.g. a
  // ramp) is forecast near its last level; use a difference transform for trends.
  // lower <= values <= upper always. Never changes the model (Save before and after is equal).
  // InvalidArgument if shingle_size < 2 (there is no shingle to extrapolate) or horizon is not in
  // [1, RandomCutForest::kMaxForecastHorizon]; Unavailable until the forest gives output.
  Result<ForecastResult> Forecast(int horizon) const;

  const ThresholdedOptions& options() const { return options_; }
  const RandomCutForest& forest() const { return *forest_; }
  size_t MemoryBytes() const;

  void Save(ByteWriter& w) const;
  std::string Save() const;
  static Result<std::unique_ptr<ThresholdedForest>> Load(std::string_view snapshot);

 private:
  // Discounted mean and variance (AWS Deviation).
  struct Stat {
    double weight = 0, sum = 0, sum_sq = 0;
    void Add(double v, double discount) {
      weight = (1 - discount) * weight + 1;
      sum = (1 - discount) * sum + v;
      sum_sq = (1 - discount) * sum_sq + v * v;
    }
    double Mean() const { return weight > 0 ? sum / weight : 0; }
    double Stddev() const;
  };

  ThresholdedForest(const ThresholdedOptions& options, std::unique_ptr<RandomCutForest> forest);
  std::vector<double> Transform(std::span<const double> input) const;
  // Original-unit value of transformed value `v` of column `col` at input index `at`.
  double InverseTransform(double v, int col, int64_t at) const;
  const double* RawAt(int64_t at) const;  // REQUIRES: at within the kept history
  void Threshold(double* threshold, double* base, double* deviation) const;
  void SaveState(ByteWriter& w) const;
  Status LoadState(ByteReader& r, uint8_t version);

  // Constant after construction
  ThresholdedOptions options_;
  int input_dim_;
  int shingle_;
  double decay_;
  // Mutable state
  std::unique_ptr<RandomCutForest> forest_;
  int64_t index_ = 0;              // inputs processed
  std::vector<Stat> value_stats_;  // per column: raw values
  std::vector<Stat> diff_stats_;   // per column: first differences
  std::vector<double> history_;    // ring of the last shingle+1 raw inputs
  Stat score_stat_;                // forest scores
  Stat below_stat_;                // (mean - score) for scores below the mean
  int64_t scores_seen_ = 0;
  int64_t last_anomaly_ = -1;              // input index of the last reported anomaly
  std::vector<double> last_expected_;      // its expected values, transformed units
  std::vector<double> last_expected_raw_;  // the same in original units
  std::vector<double> min_, max_;          // per column: range of the raw values seen
  int64_t last_alarm_ = -1;                // input index of the last positive anomaly_score
};

}  // namespace osprey::models::rcf
