#include "models/rcf/thresholded.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <utility>

#include "config/base/check.h"

namespace osprey::models::rcf {
namespace {

constexpr uint32_t kMagic = 0x46435254;  // "TRCF" little-endian

uint64_t Checksum(std::string_view data) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : data) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

// Floor of a normalising standard deviation: relative to the mean, so constant streams of any
// magnitude normalise to ~0 instead of dividing by zero.
double StdFloor(double mean) { return 1e-9 * std::max(1.0, std::abs(mean)); }

}  // namespace

double ThresholdedForest::Stat::Stddev() const {
  if (weight <= 0) return 0;
  double m = sum / weight;
  return std::sqrt(std::max(0.0, sum_sq / weight - m * m));
}

Result<std::unique_ptr<ThresholdedForest>> ThresholdedForest::Create(
    const ThresholdedOptions& options) {
  OSPREY_RETURN_IF_ERROR(options.Validate());
  OSPREY_ASSIGN_OR_RETURN(auto forest, RandomCutForest::Create(options.forest));
  return std::unique_ptr<ThresholdedForest>(new ThresholdedForest(options, std::move(forest)));
}

ThresholdedForest::ThresholdedForest(const ThresholdedOptions& options,
                                     std::unique_ptr<RandomCutForest> forest)
    : options_(options),
      input_dim_(options.forest.input_dim),
      shingle_(options.forest.shingle_size),
      decay_(options.EffectiveStatisticsDecay()),
      forest_(std::move(forest)),
      value_stats_(input_dim_),
      diff_stats_(input_dim_),
      history_(static_cast<size_t>(shingle_ + 1) * input_dim_, 0.0),
      last_expected_(input_dim_, 0.0),
      last_expected_raw_(input_dim_, 0.0),
      min_(input_dim_, std::numeric_limits<double>::infinity()),
      max_(input_dim_, -std::numeric_limits<double>::infinity()) {}

const double* ThresholdedForest::RawAt(int64_t at) const {
  return history_.data() + static_cast<size_t>(at % (shingle_ + 1)) * input_dim_;
}

std::vector<double> ThresholdedForest::Transform(std::span<const double> input) const {
  std::vector<double> out(input.begin(), input.end());
  const TransformMethod method = options_.transform;
  if (method == TransformMethod::kNone) return out;
  const double clip = options_.normalize_clip;
  const double* prev = index_ > 0 ? RawAt(index_ - 1) : nullptr;
  for (int col = 0; col < input_dim_; ++col) {
    double v = input[col];
    if (method == TransformMethod::kDifference || method == TransformMethod::kNormalizeDifference) {
      v = prev != nullptr ? v - prev[col] : 0.0;
    }
    if (method == TransformMethod::kNormalize || method == TransformMethod::kNormalizeDifference) {
      const Stat& s = method == TransformMethod::kNormalize ? value_stats_[col] : diff_stats_[col];
      if (s.weight <= 0) {
        v = 0;
      } else {
        double mean = s.Mean();
        v = std::clamp((v - mean) / std::max(s.Stddev(), StdFloor(mean)), -clip, clip);
      }
    }
    out[col] = v;
  }
  return out;
}

double ThresholdedForest::InverseTransform(double v, int col, int64_t at) const {
  const TransformMethod method = options_.transform;
  if (method == TransformMethod::kNone) return v;
  if (method == TransformMethod::kNormalize || method == TransformMethod::kNormalizeDifference) {
    const Stat& s = method == TransformMethod::kNormalize ? value_stats_[col] : diff_stats_[col];
    double mean = s.Mean();
    v = v * std::max(s.Stddev(), StdFloor(mean)) + mean;
  }
  if (method == TransformMethod::kDifference || method == TransformMethod::kNormalizeDifference) {
    // After a reported anomaly, difference from what was expected there, not from the anomaly:
    // otherwise the return to normal would look like a second anomaly.
    if (at >= 1) v += at - 1 == last_anomaly_ ? last_expected_raw_[col] : RawAt(at - 1)[col];
  }
  return v;
}

void ThresholdedForest::Threshold(double* threshold, double* base, double* deviation) const {
  const double mean = score_stat_.Mean();
  // Deviation of the scores, robust to the anomalies themselves: the RMS gap of the scores below
  // the mean (symmetric noise gives the standard deviation) caps the plain standard deviation.
  double dev = score_stat_.Stddev();
  const double initial = std::max(options_.initial_threshold, options_.absolute_threshold);
  if (scores_seen_ < options_.minimum_scores) {
    *threshold = initial;
  } else {
    double frac = std::min(
        1.0, static_cast<double>(scores_seen_ - options_.minimum_scores) / options_.minimum_scores);
    *threshold = std::max(options_.absolute_threshold,
                          frac * (mean + options_.z_factor * dev) + (1 - frac) * initial);
  }
  *base = std::min(mean, *threshold);
  *deviation = dev;
}

Result<AnomalyDescriptor> ThresholdedForest::Peek(std::span<const double> input) const {
  if (static_cast<int>(input.size()) != input_dim_) {
    return Status::InvalidArgument("thresholded rcf: expected " + std::to_string(input_dim_) +
                                   " values, got " + std::to_string(input.size()));
  }
  constexpr double kMaxFloat = std::numeric_limits<float>::max();
  for (double v : input) {
    if (!(std::abs(v) <= kMaxFloat / 2)) {
      return Status::InvalidArgument("thresholded rcf: value out of range: " + std::to_string(v));
    }
  }
  AnomalyDescriptor desc;
  desc.index = index_;
  const std::vector<double> x = Transform(input);
  const bool ready = forest_->output_ready() && forest_->inputs_seen() + 1 >= shingle_;
  double threshold = 0, base = 0, deviation = 0;
  Threshold(&threshold, &base, &deviation);
  desc.threshold = threshold;
  if (!ready) return desc;
  desc.score = forest_->Score(x);
  const double fill =
      std::min(1.0, static_cast<double>(forest_->updates()) / forest_->options().sample_size);
  desc.confidence = fill * (1 - std::exp(-decay_ * static_cast<double>(scores_seen_ + 1)));
  const DiVector attr = forest_->Attribution(x);
  const int newest = shingle_ - 1;
  desc.attribution.resize(input_dim_);
  double top = -1;
  for (int col = 0; col < input_dim_; ++col) {
    desc.attribution[col] = attr.At(newest * input_dim_ + col);
    if (desc.attribution[col] > top) {
      top = desc.attribution[col];
      desc.anomalous_column = col;
    }
  }
  if (threshold > 0 && desc.score >= threshold) {
    const double gap = threshold - base;
    desc.grade = gap > 0 ? std::min(1.0, 0.5 * (desc.score - base) / gap) : 1.0;
  }
  return desc;
}

Result<AnomalyDescriptor> ThresholdedForest::Process(std::span<const double> input) {
  if (static_cast<int>(input.size()) != input_dim_) {
    return Status::InvalidArgument("thresholded rcf: expected " + std::to_string(input_dim_) +
                                   " values, got " + std::to_string(input.size()));
  }
  constexpr double kMaxFloat = std::numeric_limits<float>::max();
  for (double v : input) {
    if (!(std::abs(v) <= kMaxFloat / 2)) {
      return Status::InvalidArgument("thresholded rcf: value out of range: " + std::to_string(v));
    }
  }
  const int64_t now = index_;
  const std::vector<double> x = Transform(input);  // uses the history before this input
  std::copy(input.begin(), input.end(),
            history_.begin() + static_cast<size_t>(now % (shingle_ + 1)) * input_dim_);

  AnomalyDescriptor desc;
  desc.index = now;
  const bool ready = forest_->output_ready() && forest_->inputs_seen() + 1 >= shingle_;
  const double score = ready ? forest_->Score(x) : 0.0;
  desc.score = score;
  double threshold = 0, base = 0, deviation = 0;
  Threshold(&threshold, &base, &deviation);
  desc.threshold = threshold;
  if (ready) {
    double fill =
        std::min(1.0, static_cast<double>(forest_->updates()) / forest_->options().sample_size);
    desc.confidence = fill * (1 - std::exp(-decay_ * static_cast<double>(scores_seen_ + 1)));
  }

  if (ready && threshold > 0 && score >= threshold) {
    std::vector<double> point = forest_->NextPoint(x);
    int first_pos = 0;
    bool suppressed = false;
    DiVector attr;
    if (last_anomaly_ >= 0 && now - last_anomaly_ < shingle_) {
      // The earlier anomaly is still in the shingle: score it as if it had been as expected.
      int pos = shingle_ - 1 - static_cast<int>(now - last_anomaly_);
      std::copy(last_expected_.begin(), last_expected_.end(),
                point.begin() + static_cast<ptrdiff_t>(pos) * input_dim_);
      suppressed = forest_->ScorePoint(point) < threshold;
      first_pos = pos + 1;
      if (!suppressed) attr = forest_->AttributionPoint(point);
    } else {
      attr = forest_->AttributionPoint(point);
    }
    if (!suppressed) {
      int best_pos = shingle_ - 1;
      double best = -1;
      for (int pos = first_pos; pos < shingle_; ++pos) {
        double sum = 0;
        for (int col = 0; col < input_dim_; ++col) sum += attr.At(pos * input_dim_ + col);
        if (sum > best) {
          best = sum;
          best_pos = pos;
        }
      }
      const int64_t at = now - (shingle_ - 1 - best_pos);
      std::vector<int> missing(input_dim_);
      for (int col = 0; col < input_dim_; ++col) missing[col] = best_pos * input_dim_ + col;
      Result<std::vector<double>> imputed = forest_->ImputePoint(point, missing);
      std::vector<double> expected_t(input_dim_), expected(input_dim_), actual(input_dim_);
      bool near = imputed.ok();
      const double* raw = RawAt(at);
      for (int col = 0; col < input_dim_; ++col) {
        expected_t[col] = imputed.ok() ? (*imputed)[missing[col]] : point[missing[col]];
        expected[col] = InverseTransform(expected_t[col], col, at);
        actual[col] = raw[col];
        double tol =
            std::max({options_.ignore_near_expected_absolute,
                      options_.ignore_near_expected_relative * std::abs(expected[col]),
                      options_.ignore_near_expected_noise_factor * diff_stats_[col].Stddev()});
        if (std::abs(actual[col] - expected[col]) > tol) near = false;
      }
      suppressed = near;
      if (!suppressed) {
        double gap = threshold - base;
        desc.grade = gap > 0 ? std::min(1.0, 0.5 * (score - base) / gap) : 1.0;
        desc.relative_index = best_pos - (shingle_ - 1);
        desc.attribution.resize(input_dim_);
        double top = -1;
        for (int col = 0; col < input_dim_; ++col) {
          desc.attribution[col] = attr.At(best_pos * input_dim_ + col);
          if (desc.attribution[col] > top) {
            top = desc.attribution[col];
            desc.anomalous_column = col;
          }
        }
        last_expected_raw_ = expected;
        desc.expected_values = std::move(expected);
        desc.actual_values = std::move(actual);
        last_anomaly_ = at;
        last_expected_ = std::move(expected_t);
      }
    }
  }

  if (ready) {
    // The range is trusted once the forest's samplers could be full: earlier, ordinary values
    // still widen it.
    const bool range_ready = forest_->updates() >= forest_->options().sample_size;
    for (int col = 0; col < input_dim_ && range_ready; ++col) {
      const double range = max_[col] - min_[col];
      if (!(range > 0)) continue;  // also false before any value (inf - inf)
      const double tol = kSpatialTolerance * range;
      if (input[col] > max_[col] + tol || input[col] < min_[col] - tol) desc.spatial = true;
    }
    double level = std::max(desc.grade, desc.spatial ? 1.0 : 0.0);
    if (last_alarm_ >= 0 && now - last_alarm_ <= kAlarmHoldInputs) {
      level = 0;  // the same episode: only its first report counts
    } else if (level > 0) {
      last_alarm_ = now;
    }
    desc.anomaly_score = std::clamp(level, 0.0, 1.0);
  }
  for (int col = 0; col < input_dim_; ++col) {
    min_[col] = std::min(min_[col], input[col]);
    max_[col] = std::max(max_[col], input[col]);
  }

  if (ready) {
    double mean = score_stat_.Mean();
    if (score_stat_.weight > 0 && score < mean) below_stat_.Add(mean - score, decay_);
    score_stat_.Add(score, decay_);
    ++scores_seen_;
  }
  Status s = forest_->Update(x);
  OSPREY_CHECK(s.ok()) << s.ToString();  // inputs were range-checked above
  for (int col = 0; col < input_dim_; ++col) {
    value_stats_[col].Add(input[col], decay_);
    if (now > 0) diff_stats_[col].Add(input[col] - RawAt(now - 1)[col], decay_);
  }
  ++index_;
  return desc;
}

Result<ForecastResult> ThresholdedForest::Forecast(int horizon) const {
  if (shingle_ < 2) {
    return Status::InvalidArgument(
        "thresholded rcf forecast: needs shingle_size >= 2 (this model has shingle_size " +
        std::to_string(shingle_) + ": there is no shingle to extrapolate)");
  }
  if (horizon < 1 || horizon > RandomCutForest::kMaxForecastHorizon) {
    return Status::InvalidArgument("thresholded rcf forecast: horizon must be in [1, " +
                                   std::to_string(RandomCutForest::kMaxForecastHorizon) +
                                   "], got " + std::to_string(horizon));
  }
  if (!forest_->output_ready()) {
    return Status::Unavailable(
        "thresholded rcf forecast: model not ready (" + std::to_string(forest_->updates()) +
        " of " + std::to_string(forest_->options().EffectiveOutputAfter()) + " points seen)");
  }
  OSPREY_ASSIGN_OR_RETURN(ForecastResult f, forest_->Forecast(horizon));
  const TransformMethod method = options_.transform;
  if (method == TransformMethod::kNone) return f;
  const bool normalize =
      method == TransformMethod::kNormalize || method == TransformMethod::kNormalizeDifference;
  const bool difference =
      method == TransformMethod::kDifference || method == TransformMethod::kNormalizeDifference;
  // output_ready() implies a full shingle, so there is a last input.
  OSPREY_CHECK(index_ >= 1);
  const double* last = RawAt(index_ - 1);
  std::vector<double> scale(input_dim_, 1.0), offset(input_dim_, 0.0);
  if (normalize) {
    for (int col = 0; col < input_dim_; ++col) {
      const Stat& s = method == TransformMethod::kNormalize ? value_stats_[col] : diff_stats_[col];
      offset[col] = s.Mean();
      scale[col] = std::max(s.Stddev(), StdFloor(offset[col]));
    }
  }
  std::vector<double> acc_v(last, last + input_dim_), acc_lo(acc_v), acc_hi(acc_v);
  for (int step = 0; step < horizon; ++step) {
    for (int col = 0; col < input_dim_; ++col) {
      const size_t idx = static_cast<size_t>(step) * input_dim_ + col;
      // scale > 0, so the map is increasing and keeps lower <= value <= upper.
      double v = f.values[idx] * scale[col] + offset[col];
      double lo = f.lower[idx] * scale[col] + offset[col];
      double hi = f.upper[idx] * scale[col] + offset[col];
      if (difference) {
        v = acc_v[col] += v;
        lo = acc_lo[col] += lo;
        hi = acc_hi[col] += hi;
      }
      f.values[idx] = v;
      // Rounding of the sums must not break the order.
      f.lower[idx] = std::min(lo, v);
      f.upper[idx] = std::max(hi, v);
    }
  }
  return f;
}

size_t ThresholdedForest::MemoryBytes() const {
  return sizeof(*this) + forest_->MemoryBytes() +
         (value_stats_.capacity() + diff_stats_.capacity()) * sizeof(Stat) +
         (history_.capacity() + last_expected_.capacity() + last_expected_raw_.capacity() +
          min_.capacity() + max_.capacity()) *
             sizeof(double);
}

void ThresholdedForest::SaveState(ByteWriter& w) const {
  w.Put<uint8_t>(static_cast<uint8_t>(options_.transform));
  w.Put<double>(options_.z_factor);
  w.Put<double>(options_.absolute_threshold);
  w.Put<double>(options_.initial_threshold);
  w.Put<int32_t>(options_.minimum_scores);
  w.Put<double>(decay_);
  w.Put<double>(options_.ignore_near_expected_absolute);
  w.Put<double>(options_.ignore_near_expected_relative);
  w.Put<double>(options_.normalize_clip);
  w.Put<double>(options_.ignore_near_expected_noise_factor);
  w.PutString(forest_->Save());
  w.Put<int64_t>(index_);
  auto put_stat = [&](const Stat& s) {
    w.Put<double>(s.weight);
    w.Put<double>(s.sum);
    w.Put<double>(s.sum_sq);
  };
  for (const Stat& s : value_stats_) put_stat(s);
  for (const Stat& s : diff_stats_) put_stat(s);
  w.PutVector(history_);
  put_stat(score_stat_);
  put_stat(below_stat_);
  w.Put<int64_t>(scores_seen_);
  w.Put<int64_t>(last_anomaly_);
  w.PutVector(last_expected_);
  w.PutVector(last_expected_raw_);
  w.PutVector(min_);
  w.PutVector(max_);
  w.Put<int64_t>(last_alarm_);
}

void ThresholdedForest::Save(ByteWriter& w) const {
  std::string payload;
  ByteWriter pw(&payload);
  SaveState(pw);
  w.Put<uint32_t>(kMagic);
  w.Put<uint8_t>(kFormatVersion);
  w.PutString(payload);
  w.Put<uint64_t>(Checksum(payload));
}

std::string ThresholdedForest::Save() const {
  std::string out;
  ByteWriter w(&out);
  Save(w);
  return out;
}

Status ThresholdedForest::LoadState(ByteReader& r, uint8_t version) {
  auto get_stat = [&](Stat* s) { return r.Get(&s->weight) && r.Get(&s->sum) && r.Get(&s->sum_sq); };
  if (!r.Get(&index_)) return Status::Corruption("thresholded rcf: truncated state");
  for (Stat& s : value_stats_) {
    if (!get_stat(&s)) return Status::Corruption("thresholded rcf: truncated state");
  }
  for (Stat& s : diff_stats_) {
    if (!get_stat(&s)) return Status::Corruption("thresholded rcf: truncated state");
  }
  std::vector<double> history, last_expected, last_expected_raw;
  if (!r.GetVector(&history, history_.size()) || history.size() != history_.size() ||
      !get_stat(&score_stat_) || !get_stat(&below_stat_) || !r.Get(&scores_seen_) ||
      !r.Get(&last_anomaly_) || !r.GetVector(&last_expected, input_dim_) ||
      last_expected.size() != static_cast<size_t>(input_dim_) ||
      !r.GetVector(&last_expected_raw, input_dim_) ||
      last_expected_raw.size() != static_cast<size_t>(input_dim_)) {
    return Status::Corruption("thresholded rcf: truncated or inconsistent state");
  }
  std::vector<double> mins(input_dim_, std::numeric_limits<double>::infinity());
  std::vector<double> maxs(input_dim_, -std::numeric_limits<double>::infinity());
  int64_t last_alarm = -1;
  if (version >= 2) {
    if (!r.GetVector(&mins, input_dim_) || mins.size() != static_cast<size_t>(input_dim_) ||
        !r.GetVector(&maxs, input_dim_) || maxs.size() != static_cast<size_t>(input_dim_) ||
        !r.Get(&last_alarm)) {
      return Status::Corruption("thresholded rcf: truncated or inconsistent state");
    }
  } else {
    // Version 1 kept no range: rebuild it from the inputs still in the history ring.
    for (int64_t at = std::max<int64_t>(0, index_ - (shingle_ + 1)); at < index_; ++at) {
      const double* raw = history.data() + static_cast<size_t>(at % (shingle_ + 1)) * input_dim_;
      for (int col = 0; col < input_dim_; ++col) {
        mins[col] = std::min(mins[col], raw[col]);
        maxs[col] = std::max(maxs[col], raw[col]);
      }
    }
  }
  if (!r.done()) return Status::Corruption("thresholded rcf: trailing state bytes");
  if (index_ < 0 || scores_seen_ < 0 || last_anomaly_ >= index_ || last_alarm >= index_ ||
      last_alarm < -1) {
    return Status::Corruption("thresholded rcf: inconsistent counters");
  }
  min_ = std::move(mins);
  max_ = std::move(maxs);
  last_alarm_ = last_alarm;
  history_ = std::move(history);
  last_expected_ = std::move(last_expected);
  last_expected_raw_ = std::move(last_expected_raw);
  return Status::Ok();
}

Result<std::unique_ptr<ThresholdedForest>> ThresholdedForest::Load(std::string_view snapshot) {
  ByteReader r(snapshot);
  uint32_t magic = 0;
  uint8_t version = 0;
  if (!r.Get(&magic) || magic != kMagic) return Status::Corruption("thresholded rcf: bad magic");
  if (!r.Get(&version)) return Status::Corruption("thresholded rcf: truncated");
  if (version < 1 || version > kFormatVersion) {
    return Status::Corruption("thresholded rcf: format version " + std::to_string(version) +
                              " is not supported (this build reads 1 to " +
                              std::to_string(kFormatVersion) + ")");
  }
  std::string payload;
  uint64_t checksum = 0;
  if (!r.GetString(&payload) || !r.Get(&checksum) || !r.done()) {
    return Status::Corruption("thresholded rcf: truncated");
  }
  if (Checksum(payload) != checksum)
    return Status::Corruption("thresholded rcf: checksum mismatch");
  ByteReader pr(payload);
  ThresholdedOptions options;
  uint8_t transform = 0;
  double decay = 0;
  std::string forest_snapshot;
  if (!pr.Get(&transform) || !pr.Get(&options.z_factor) || !pr.Get(&options.absolute_threshold) ||
      !pr.Get(&options.initial_threshold) || !pr.Get(&options.minimum_scores) || !pr.Get(&decay) ||
      !pr.Get(&options.ignore_near_expected_absolute) ||
      !pr.Get(&options.ignore_near_expected_relative) || !pr.Get(&options.normalize_clip) ||
      !pr.Get(&options.ignore_near_expected_noise_factor) || !pr.GetString(&forest_snapshot)) {
    return Status::Corruption("thresholded rcf: truncated options");
  }
  if (transform > static_cast<uint8_t>(TransformMethod::kNormalizeDifference)) {
    return Status::Corruption("thresholded rcf: unknown transform");
  }
  options.transform = static_cast<TransformMethod>(transform);
  options.statistics_decay = decay;
  OSPREY_ASSIGN_OR_RETURN(auto forest, RandomCutForest::Load(forest_snapshot));
  options.forest = forest->options();
  Status valid = options.Validate();
  if (!valid.ok()) return Status::Corruption("thresholded rcf: bad options: " + valid.message());
  std::unique_ptr<ThresholdedForest> model(new ThresholdedForest(options, std::move(forest)));
  OSPREY_RETURN_IF_ERROR(model->LoadState(pr, version));
  return model;
}

}  // namespace osprey::models::rcf
