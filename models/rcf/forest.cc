#include "models/rcf/forest.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "config/base/check.h"
#include "models/rcf/internal/small_buffer.h"

namespace osprey::models::rcf {
namespace {

using internal::ScratchArray;

constexpr uint32_t kMagic = 0x46435252;  // "RRCF" little-endian
constexpr size_t kInlineDims = 256;

uint64_t Fnv1a64(std::string_view data) {
  uint64_t h = 0xCBF29CE484222325ULL;
  for (char c : data) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001B3ULL;
  }
  return h;
}

// Linear-interpolated quantile of sorted values.
double Quantile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  double pos = q * static_cast<double>(sorted.size() - 1);
  auto lo = static_cast<size_t>(pos);
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  double frac = pos - static_cast<double>(lo);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
}

}  // namespace

double DiVector::Total() const {
  double total = 0;
  for (size_t d = 0; d < high.size(); ++d) total += high[d] + low[d];
  return total;
}

Result<std::unique_ptr<RandomCutForest>> RandomCutForest::Create(const RcfOptions& options) {
  OSPREY_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<RandomCutForest>(new RandomCutForest(options));
}

RandomCutForest::RandomCutForest(const RcfOptions& options)
    : options_(options),
      dims_(options.dimensions()),
      shingle_(options.dimensions(), 0.0f),
      store_(options.input_dim, options.shingle_size) {
  options_.time_decay = options.EffectiveTimeDecay();
  options_.output_after = options.EffectiveOutputAfter();
  uint64_t seeder = options.random_seed;
  rngs_.reserve(options.number_of_trees);
  samplers_.reserve(options.number_of_trees);
  trees_.reserve(options.number_of_trees);
  for (int idx = 0; idx < options.number_of_trees; ++idx) {
    rngs_.emplace_back(SplitMix64Next(&seeder));
    samplers_.emplace_back(options.sample_size, *options_.time_decay,
                           options.initial_accept_fraction);
    trees_.emplace_back(dims_, options.sample_size, options.box_cache_min_mass);
  }
}

Status RandomCutForest::Update(std::span<const double> input) {
  const int in = options_.input_dim;
  if (static_cast<int>(input.size()) != in) {
    return Status::InvalidArgument("rcf update: expected " + std::to_string(in) + " values, got " +
                                   std::to_string(input.size()));
  }
  for (double v : input) {
    if (!(std::abs(v) <= std::numeric_limits<float>::max())) {
      return Status::InvalidArgument("rcf update: value is not finite as a float: " +
                                     std::to_string(v));
    }
  }
  std::move(shingle_.begin() + in, shingle_.end(), shingle_.begin());
  for (int idx = 0; idx < in; ++idx) shingle_[dims_ - in + idx] = static_cast<float>(input[idx]);
  ++inputs_seen_;
  if (inputs_seen_ < options_.shingle_size) return Status::Ok();

  const int64_t seq = updates_++;
  uint32_t point = PointStore::kNone;
  for (size_t t = 0; t < trees_.size(); ++t) {
    if (samplers_[t].SkipsWithoutChange(seq)) continue;  // most points, most trees: no call
    Sampler::Decision decision = samplers_[t].Offer(seq, rngs_[t]);
    if (!decision.accepted) continue;
    if (point == PointStore::kNone) {
      if (store_.NeedsCompaction(shingle_.data(), seq)) CompactStore();
      point = store_.Add(shingle_.data(), seq);
    }
    if (decision.evicts) trees_[t].Delete(decision.evicted_leaf, store_);
    samplers_[t].Commit(trees_[t].Insert(point, store_, rngs_[t]));
  }
  return Status::Ok();
}

void RandomCutForest::CompactStore() {
  std::vector<uint32_t> table(store_.table_size(), 0);
  for (const RandomCutTree& tree : trees_) tree.MarkPoints(&table, options_.input_dim);
  store_.Compact(&table);
  for (RandomCutTree& tree : trees_) tree.RemapPoints(table, options_.input_dim);
}

size_t RandomCutForest::live_points() const {
  std::vector<uint32_t> live;
  for (const RandomCutTree& tree : trees_) {
    tree.ForEachLeaf([&](uint16_t, uint32_t point, int) { live.push_back(point); });
  }
  std::sort(live.begin(), live.end());
  return static_cast<size_t>(std::unique(live.begin(), live.end()) - live.begin());
}

void RandomCutForest::BuildNext(std::span<const double> input, float* out) const {
  const int in = options_.input_dim;
  OSPREY_CHECK(static_cast<int>(input.size()) == in) << "expected " << in << " values";
  std::copy(shingle_.begin() + in, shingle_.end(), out);
  for (int idx = 0; idx < in; ++idx) out[dims_ - in + idx] = static_cast<float>(input[idx]);
}

std::vector<double> RandomCutForest::NextPoint(std::span<const double> input) const {
  ScratchArray<float, kInlineDims> q(dims_);
  BuildNext(input, q.data());
  return std::vector<double>(q.data(), q.data() + dims_);
}

double RandomCutForest::ScoreFloat(const float* q) const {
  if (!output_ready()) return 0;
  double sum = 0;
  int norm_mass = -1;
  double norm = 0;
  const RandomCutTree* batch[RandomCutTree::kBatch];
  double raw[RandomCutTree::kBatch];
  for (size_t first = 0; first < trees_.size(); first += RandomCutTree::kBatch) {
    int count = static_cast<int>(std::min<size_t>(RandomCutTree::kBatch, trees_.size() - first));
    for (int k = 0; k < count; ++k) batch[k] = &trees_[first + k];
    RandomCutTree::RawScoreBatch(batch, count, q, store_, raw);
    for (int k = 0; k < count; ++k) {
      int mass = batch[k]->mass();
      if (mass != norm_mass) {  // trees usually share one mass: one log2 per call
        norm_mass = mass;
        norm = RandomCutTree::Normalizer(mass);
      }
      sum += raw[k] * norm;
    }
  }
  return sum / static_cast<double>(trees_.size());
}

double RandomCutForest::Score(std::span<const double> input) const {
  if (inputs_seen_ + 1 < options_.shingle_size) return 0;
  ScratchArray<float, kInlineDims> q(dims_);
  BuildNext(input, q.data());
  return ScoreFloat(q.data());
}

double RandomCutForest::ScorePoint(std::span<const double> point) const {
  OSPREY_CHECK(static_cast<int>(point.size()) == dims_) << "expected " << dims_ << " values";
  ScratchArray<float, kInlineDims> q(dims_);
  for (int d = 0; d < dims_; ++d) q[d] = static_cast<float>(point[d]);
  return ScoreFloat(q.data());
}

DiVector RandomCutForest::AttributionFloat(const float* q) const {
  DiVector out;
  out.high.assign(dims_, 0.0);
  out.low.assign(dims_, 0.0);
  if (!output_ready()) return out;
  for (const RandomCutTree& tree : trees_) {
    tree.AddAttribution(q, store_, out.high.data(), out.low.data());
  }
  const double inv = 1.0 / static_cast<double>(trees_.size());
  for (int d = 0; d < dims_; ++d) {
    out.high[d] *= inv;
    out.low[d] *= inv;
  }
  return out;
}

DiVector RandomCutForest::Attribution(std::span<const double> input) const {
  ScratchArray<float, kInlineDims> q(dims_);
  BuildNext(input, q.data());
  if (inputs_seen_ + 1 < options_.shingle_size) {
    return DiVector{std::vector<double>(dims_, 0.0), std::vector<double>(dims_, 0.0)};
  }
  return AttributionFloat(q.data());
}

DiVector RandomCutForest::AttributionPoint(std::span<const double> point) const {
  OSPREY_CHECK(static_cast<int>(point.size()) == dims_) << "expected " << dims_ << " values";
  ScratchArray<float, kInlineDims> q(dims_);
  for (int d = 0; d < dims_; ++d) q[d] = static_cast<float>(point[d]);
  return AttributionFloat(q.data());
}

void RandomCutForest::ConditionalValues(const float* q, const std::vector<uint8_t>& mask,
                                        std::span<const int> missing,
                                        std::vector<double>* per_dim) const {
  // per_dim: missing.size() rows of trees_.size() values.
  per_dim->assign(missing.size() * trees_.size(), 0.0);
  for (size_t t = 0; t < trees_.size(); ++t) {
    const RandomCutTree& tree = trees_[t];
    const float* leaf = store_.Point(tree.leaf_point(tree.ConditionalLeaf(q, mask.data(), store_)));
    for (size_t m = 0; m < missing.size(); ++m) {
      (*per_dim)[m * trees_.size() + t] = leaf[missing[m]];
    }
  }
}

Result<std::vector<double>> RandomCutForest::ImputePoint(std::span<const double> point,
                                                         std::span<const int> missing) const {
  if (static_cast<int>(point.size()) != dims_) {
    return Status::InvalidArgument("rcf impute: expected " + std::to_string(dims_) + " values");
  }
  std::vector<uint8_t> mask(dims_, 0);
  for (int m : missing) {
    if (m < 0 || m >= dims_) {
      return Status::InvalidArgument("rcf impute: missing index " + std::to_string(m) +
                                     " out of range");
    }
    mask[m] = 1;
  }
  if (trees_.empty() || trees_[0].mass() == 0 || updates_ == 0) {
    return Status::Unavailable("rcf impute: the forest has no points yet");
  }
  std::vector<float> q(dims_);
  for (int d = 0; d < dims_; ++d) q[d] = mask[d] ? 0.0f : static_cast<float>(point[d]);
  std::vector<double> per_dim;
  ConditionalValues(q.data(), mask, missing, &per_dim);
  std::vector<double> out(point.begin(), point.end());
  const size_t n = trees_.size();
  for (size_t m = 0; m < missing.size(); ++m) {
    std::vector<double> vals(per_dim.begin() + m * n, per_dim.begin() + (m + 1) * n);
    std::sort(vals.begin(), vals.end());
    out[missing[m]] = Quantile(vals, 0.5);
  }
  return out;
}

Result<std::vector<double>> RandomCutForest::Impute(std::span<const double> input,
                                                    std::span<const int> missing) const {
  const int in = options_.input_dim;
  if (static_cast<int>(input.size()) != in) {
    return Status::InvalidArgument("rcf impute: expected " + std::to_string(in) + " values");
  }
  if (inputs_seen_ + 1 < options_.shingle_size) {
    return Status::Unavailable("rcf impute: the shingle is not full yet");
  }
  std::vector<int> shifted;
  for (int m : missing) {
    if (m < 0 || m >= in) {
      return Status::InvalidArgument("rcf impute: missing index " + std::to_string(m) +
                                     " out of range");
    }
    shifted.push_back(dims_ - in + m);
  }
  std::vector<double> clean(input.begin(), input.end());
  for (int m : missing) clean[m] = 0;  // may be NaN on input
  std::vector<double> next = NextPoint(clean);
  OSPREY_ASSIGN_OR_RETURN(std::vector<double> full, ImputePoint(next, shifted));
  std::vector<double> out(input.begin(), input.end());
  for (int m : missing) out[m] = full[dims_ - in + m];
  return out;
}

Result<ForecastResult> RandomCutForest::Forecast(int horizon) const {
  const int in = options_.input_dim;
  if (options_.shingle_size < 2) {
    return Status::InvalidArgument("rcf forecast: needs shingle_size >= 2");
  }
  if (horizon < 1 || horizon > kMaxForecastHorizon) {
    return Status::InvalidArgument("rcf forecast: horizon must be in [1, " +
                                   std::to_string(kMaxForecastHorizon) + "]");
  }
  if (!output_ready()) return Status::Unavailable("rcf forecast: forest not ready");
  ForecastResult result;
  result.horizon = horizon;
  result.input_dim = in;
  std::vector<float> q(shingle_);
  std::vector<uint8_t> mask(dims_, 0);
  std::vector<int> missing;
  for (int idx = 0; idx < in; ++idx) {
    mask[dims_ - in + idx] = 1;
    missing.push_back(dims_ - in + idx);
  }
  std::vector<double> per_dim;
  const size_t n = trees_.size();
  for (int step = 0; step < horizon; ++step) {
    std::move(q.begin() + in, q.end(), q.begin());
    std::fill(q.end() - in, q.end(), 0.0f);
    ConditionalValues(q.data(), mask, missing, &per_dim);
    for (int idx = 0; idx < in; ++idx) {
      std::vector<double> vals(per_dim.begin() + idx * n, per_dim.begin() + (idx + 1) * n);
      std::sort(vals.begin(), vals.end());
      double median = Quantile(vals, 0.5);
      result.values.push_back(median);
      result.lower.push_back(Quantile(vals, 0.1));
      result.upper.push_back(Quantile(vals, 0.9));
      q[dims_ - in + idx] = static_cast<float>(median);
    }
  }
  return result;
}

size_t RandomCutForest::MemoryBytes() const {
  size_t bytes = sizeof(*this) + shingle_.capacity() * sizeof(float) +
                 rngs_.capacity() * sizeof(Rng) + store_.MemoryBytes() - sizeof(store_);
  bytes += (samplers_.capacity() - samplers_.size()) * sizeof(Sampler);
  bytes += (trees_.capacity() - trees_.size()) * sizeof(RandomCutTree);
  for (const Sampler& s : samplers_) bytes += s.MemoryBytes();
  for (const RandomCutTree& t : trees_) bytes += t.MemoryBytes();
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Consistency and persistence.

Status RandomCutForest::CheckInvariants() const {
  for (size_t t = 0; t < trees_.size(); ++t) {
    OSPREY_RETURN_IF_ERROR(trees_[t].CheckInvariants(store_));
    const Sampler& sampler = samplers_[t];
    if (sampler.size() != trees_[t].mass()) {
      return Status::Corruption("rcf forest: sampler size differs from tree mass");
    }
    std::vector<int> count(options_.sample_size, 0);
    for (uint16_t leaf : sampler.leaves()) {
      if (leaf >= options_.sample_size) return Status::Corruption("rcf forest: bad sampler leaf");
      ++count[leaf];
    }
    Status s = Status::Ok();
    trees_[t].ForEachLeaf([&](uint16_t leaf, uint32_t point, int mass) {
      if (count[leaf] != mass) s = Status::Corruption("rcf forest: sampler and leaves disagree");
      if (!store_.IsValid(point))
        s = Status::Corruption("rcf forest: leaf point outside the store");
    });
    OSPREY_RETURN_IF_ERROR(s);
  }
  return Status::Ok();
}

void RandomCutForest::SavePayload(ByteWriter& w) const {
  w.Put<int32_t>(options_.input_dim);
  w.Put<int32_t>(options_.shingle_size);
  w.Put<int32_t>(options_.number_of_trees);
  w.Put<int32_t>(options_.sample_size);
  w.Put<double>(*options_.time_decay);
  w.Put<int64_t>(*options_.output_after);
  w.Put<double>(options_.initial_accept_fraction);
  w.Put<uint64_t>(options_.random_seed);
  w.Put<int32_t>(options_.box_cache_min_mass);
  w.Put<int64_t>(inputs_seen_);
  w.Put<int64_t>(updates_);
  w.PutVector(shingle_);
  store_.Save(w);
  for (size_t t = 0; t < trees_.size(); ++t) {
    for (uint64_t word : rngs_[t].state()) w.Put<uint64_t>(word);
    samplers_[t].Save(w);
    trees_[t].Save(w);
  }
}

Status RandomCutForest::LoadPayload(ByteReader& r, uint8_t version) {
  std::vector<float> shingle;
  if (!r.Get(&inputs_seen_) || !r.Get(&updates_) || !r.GetVector(&shingle, dims_) ||
      shingle.size() != static_cast<size_t>(dims_) || inputs_seen_ < 0 || updates_ < 0) {
    return Status::Corruption("rcf forest: bad counters or shingle");
  }
  shingle_ = std::move(shingle);
  std::vector<uint32_t> index_loc;  // format 1: point index -> location
  if (version == 1) {
    OSPREY_RETURN_IF_ERROR(store_.LoadV1(r, &index_loc));
  } else {
    OSPREY_RETURN_IF_ERROR(store_.Load(r));
  }
  for (size_t t = 0; t < trees_.size(); ++t) {
    std::array<uint64_t, 4> state{};
    for (uint64_t& word : state) {
      if (!r.Get(&word)) return Status::Corruption("rcf forest: truncated rng state");
    }
    rngs_[t].set_state(state);
    OSPREY_RETURN_IF_ERROR(samplers_[t].Load(r));
    OSPREY_RETURN_IF_ERROR(trees_[t].Load(r, store_, version == 1 ? &index_loc : nullptr));
  }
  if (!r.done()) return Status::Corruption("rcf forest: trailing bytes");
  OSPREY_RETURN_IF_ERROR(CheckInvariants());
  // Format 1 stores dead values and a capacity sized for its index arrays: compact once.
  if (version == 1) CompactStore();
  return Status::Ok();
}

void RandomCutForest::Save(ByteWriter& w) const {
  std::string payload;
  ByteWriter pw(&payload);
  SavePayload(pw);
  w.Put<uint32_t>(kMagic);
  w.Put<uint8_t>(kFormatVersion);
  w.PutString(payload);
  w.Put<uint64_t>(Fnv1a64(payload));
}

std::string RandomCutForest::Save() const {
  std::string out;
  ByteWriter w(&out);
  Save(w);
  return out;
}

Result<std::unique_ptr<RandomCutForest>> RandomCutForest::Load(ByteReader& r) {
  uint32_t magic = 0;
  uint8_t version = 0;
  if (!r.Get(&magic) || magic != kMagic) return Status::Corruption("rcf snapshot: bad magic");
  if (!r.Get(&version)) return Status::Corruption("rcf snapshot: truncated");
  if (version != kFormatVersion && version != 1) {
    return Status::Corruption("rcf snapshot: format version " + std::to_string(version) +
                              " is not supported (this build reads 1 and " +
                              std::to_string(kFormatVersion) + ")");
  }
  std::string payload;
  uint64_t checksum = 0;
  if (!r.GetString(&payload) || !r.Get(&checksum)) {
    return Status::Corruption("rcf snapshot: truncated");
  }
  if (Fnv1a64(payload) != checksum) return Status::Corruption("rcf snapshot: checksum mismatch");
  ByteReader pr(payload);
  RcfOptions options;
  double time_decay = 0;
  int64_t output_after = 0;
  int32_t input_dim = 0, shingle_size = 0, trees = 0, sample_size = 0, cache = 0;
  if (!pr.Get(&input_dim) || !pr.Get(&shingle_size) || !pr.Get(&trees) || !pr.Get(&sample_size) ||
      !pr.Get(&time_decay) || !pr.Get(&output_after) || !pr.Get(&options.initial_accept_fraction) ||
      !pr.Get(&options.random_seed) || !pr.Get(&cache)) {
    return Status::Corruption("rcf snapshot: truncated options");
  }
  options.input_dim = input_dim;
  options.shingle_size = shingle_size;
  options.number_of_trees = trees;
  options.sample_size = sample_size;
  options.time_decay = time_decay;
  options.output_after = output_after;
  options.box_cache_min_mass = cache;
  Status valid = options.Validate();
  if (!valid.ok()) return Status::Corruption("rcf snapshot: bad options: " + valid.message());
  std::unique_ptr<RandomCutForest> forest(new RandomCutForest(options));
  OSPREY_RETURN_IF_ERROR(forest->LoadPayload(pr, version));
  return forest;
}

Result<std::unique_ptr<RandomCutForest>> RandomCutForest::Load(std::string_view snapshot) {
  ByteReader r(snapshot);
  OSPREY_ASSIGN_OR_RETURN(auto forest, Load(r));
  if (!r.done()) return Status::Corruption("rcf snapshot: trailing bytes");
  return forest;
}

}  // namespace osprey::models::rcf
