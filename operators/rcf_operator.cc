#include "operators/rcf_operator.h"

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "config/base/json_writer.h"

namespace osprey::operators {
namespace {

namespace rcf = models::rcf;

std::optional<rcf::TransformMethod> ParseTransform(std::string_view s) {
  if (s == "none" || s.empty()) return rcf::TransformMethod::kNone;
  if (s == "normalize") return rcf::TransformMethod::kNormalize;
  if (s == "difference") return rcf::TransformMethod::kDifference;
  if (s == "normalize_difference") return rcf::TransformMethod::kNormalizeDifference;
  return std::nullopt;
}

// Name of value `col`: the schema's when it has one, else "v<col>".
std::string ColumnName(const Schema* schema, size_t col) {
  if (schema != nullptr && col < schema->value_names.size()) return schema->value_names[col];
  std::string name(1, 'v');  // not "v" + ...: g++ 12 -Wrestrict false positive
  name += std::to_string(col);
  return name;
}

void AppendError(Event& event, const std::string& message) {
  if (!event.annotations.empty()) event.annotations += ',';
  event.annotations += "\"error\":";
  AppendJsonString(event.annotations, message);
}

}  // namespace

RcfOperator::RcfOperator(const config::OperatorOptions& options, const Clock& clock)
    : name_(options.name), options_(options.rcf), clock_(clock) {}

rcf::ThresholdedOptions RcfOperator::ModelOptions(const config::RcfOperatorOptions& o,
                                                  int input_dim) {
  rcf::ThresholdedOptions m;
  m.forest.input_dim = input_dim;
  m.forest.shingle_size = o.shingle_size;
  m.forest.number_of_trees = o.number_of_trees;
  m.forest.sample_size = o.sample_size;
  m.forest.time_decay = o.time_decay;
  m.forest.output_after = o.output_after;
  m.forest.initial_accept_fraction = o.initial_accept_fraction;
  m.forest.random_seed = o.random_seed;
  m.transform = ParseTransform(o.transform).value_or(rcf::TransformMethod::kNone);
  m.z_factor = o.z_factor;
  m.absolute_threshold = o.absolute_threshold;
  return m;
}

RcfOperator::KeyState& RcfOperator::Insert(const std::string& key,
                                           std::unique_ptr<rcf::ThresholdedForest> model) {
  auto it = keys_.find(key);
  if (it != keys_.end()) Evict(key);
  lru_.push_front(key);
  KeyState& state = keys_[key];
  state.model = std::move(model);
  state.lru = lru_.begin();
  state.last_seen_ms = clock_.NowMillis();
  state.bytes = state.model->MemoryBytes();
  memory_bytes_ += state.bytes;
  return state;
}

void RcfOperator::Touch(KeyState& state) {
  state.last_seen_ms = clock_.NowMillis();
  if (state.lru != lru_.begin()) lru_.splice(lru_.begin(), lru_, state.lru);
}

void RcfOperator::Evict(const std::string& key_ref) {
  const std::string key = key_ref;
  auto it = keys_.find(key);
  if (it == keys_.end()) return;
  memory_bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  keys_.erase(it);
  dirty_.insert(key);
}

void RcfOperator::EvictIdle(int64_t now_ms) {
  if (options_.idle_eviction_ms <= 0) return;
  // lru_ is ordered by last use, so the idle keys are at its back.
  while (!lru_.empty()) {
    const KeyState& oldest = keys_.at(lru_.back());
    if (now_ms - oldest.last_seen_ms < options_.idle_eviction_ms) break;
    Evict(lru_.back());
    ++evictions_;
  }
}

void RcfOperator::EnforceBudget(const std::string& keep) {
  if (options_.memory_budget_bytes <= 0) return;
  const auto budget = static_cast<size_t>(options_.memory_budget_bytes);
  while (memory_bytes_ > budget && !lru_.empty() && lru_.back() != keep) {
    Evict(lru_.back());
    ++evictions_;
  }
}

void RcfOperator::Tick(Emitter& out) {
  (void)out;
  EvictIdle(clock_.NowMillis());
}

void RcfOperator::Process(Event event, Emitter& out) {
  EvictIdle(clock_.NowMillis());
  auto it = keys_.find(event.key);
  KeyState* state = nullptr;
  if (it != keys_.end()) {
    state = &it->second;
    Touch(*state);
  } else {
    if (!ParseTransform(options_.transform)) {
      AppendError(event, "operator '" + name_ + "': unknown transform '" + options_.transform + "'");
      out.Emit(std::move(event));
      return;
    }
    auto model =
        rcf::ThresholdedForest::Create(ModelOptions(options_, static_cast<int>(event.values.size())));
    if (!model.ok()) {
      AppendError(event, "operator '" + name_ + "' key '" + event.key + "': " +
                             model.status().message());
      out.Emit(std::move(event));
      return;
    }
    state = &Insert(event.key, std::move(*model));
  }

  auto result = state->model->Process(event.values);
  if (!result.ok()) {
    // Wrong value count or a rejected value: the model is unchanged; the event goes on unscored.
    AppendError(event, "operator '" + name_ + "' key '" + event.key + "': " +
                           result.status().message());
    out.Emit(std::move(event));
    return;
  }
  dirty_.insert(event.key);
  std::string forecast;
  if (options_.forecast_horizon > 0) AnnotateForecast(*state->model, event.schema.get(), forecast);
  const size_t bytes = state->model->MemoryBytes();  // O(trees); small next to Process
  memory_bytes_ = memory_bytes_ - state->bytes + bytes;
  state->bytes = bytes;
  EnforceBudget(event.key);  // may invalidate `state`

  const rcf::AnomalyDescriptor& d = *result;
  event.score = d.score;
  event.alert = event.alert || d.grade >= options_.alert_grade;
  if (!event.annotations.empty()) event.annotations += ',';
  Annotate(d, event.schema.get(), event.annotations);
  event.annotations += forecast;
  out.Emit(std::move(event));
}

void RcfOperator::Annotate(const rcf::AnomalyDescriptor& d, const Schema* schema,
                           std::string& a) const {
  JsonWriter w(&a);
  w.Key("grade").Double(d.grade);
  w.Key("anomaly_score").Double(d.anomaly_score);
  w.Key("confidence").Double(d.confidence);
  w.Key("threshold").Double(d.threshold);
  w.Key("attribution").BeginObject();
  const bool anomalous = d.grade > 0;
  if (anomalous) {
    for (size_t col = 0; col < d.attribution.size(); ++col) {
      const double attr = d.attribution[col];
      const double strength = d.score > 0 ? std::clamp(attr / d.score, 0.0, 1.0) : 0.0;
      const bool high = col >= d.actual_values.size() || col >= d.expected_values.size() ||
                        d.actual_values[col] >= d.expected_values[col];
      w.Key(ColumnName(schema, col)).BeginObject();
      w.Key("ATTRIBUTION_SCORE").Double(attr);
      w.Key("STRENGTH").Double(strength);
      w.Key("DIRECTION").String(high ? "HIGH" : "LOW");
      w.EndObject();
    }
  }
  w.EndObject();
  if (anomalous) {
    w.Key("expected").BeginObject();
    for (size_t col = 0; col < d.expected_values.size(); ++col) {
      w.Key(ColumnName(schema, col)).Double(d.expected_values[col]);
    }
    w.EndObject();
    w.Key("relative_index").Int(d.relative_index);
  }
}

void RcfOperator::AnnotateForecast(const rcf::ThresholdedForest& model, const Schema* schema,
                                   std::string& a) const {
  // Unavailable until the forest gives output; the shingle_size >= 2 requirement is checked
  // when the configuration loads (restored models keep their saved options, so check anyway).
  auto f = model.Forecast(options_.forecast_horizon);
  if (!f.ok()) return;
  a += ',';
  JsonWriter w(&a);
  w.Key("forecast").BeginObject();
  for (int col = 0; col < f->input_dim; ++col) {
    w.Key(ColumnName(schema, static_cast<size_t>(col))).BeginObject();
    for (const auto& [name, series] : {std::pair<const char*, const std::vector<double>*>{
                                           "value", &f->values},
                                       {"lower", &f->lower},
                                       {"upper", &f->upper}}) {
      w.Key(name).BeginArray();
      for (int step = 0; step < f->horizon; ++step) {
        w.Double((*series)[static_cast<size_t>(step) * f->input_dim + col]);
      }
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndObject();
}

void RcfOperator::SnapshotDirty(
    const std::function<void(std::string_view key, std::string snapshot)>& sink) {
  for (const auto& key : dirty_) {
    auto it = keys_.find(key);
    if (it == keys_.end()) {
      sink(key, std::string());  // evicted: the checkpointer deletes it
      continue;
    }
    std::string snapshot;
    snapshot.push_back(static_cast<char>(kSnapshotVersion));
    ByteWriter w(&snapshot);
    it->second.model->Save(w);
    sink(key, std::move(snapshot));
  }
  dirty_.clear();
}

Status RcfOperator::Restore(std::string_view key, std::string_view snapshot) {
  auto fail = [&](const std::string& why) {
    return Status::Corruption("operator '" + name_ + "' key '" + std::string(key) + "': " + why);
  };
  if (snapshot.empty()) return fail("empty snapshot");
  const auto version = static_cast<uint8_t>(snapshot.front());
  if (version != kSnapshotVersion) {
    return fail("snapshot version " + std::to_string(version) +
                " is not supported (this build reads " + std::to_string(kSnapshotVersion) + ")");
  }
  auto model = rcf::ThresholdedForest::Load(snapshot.substr(1));
  if (!model.ok()) return fail(model.status().message());
  const std::string k(key);
  Insert(k, std::move(*model));
  dirty_.erase(k);  // Insert's eviction of an older model is not a change of stored state
  EnforceBudget(k);
  return Status::Ok();
}

const models::rcf::ThresholdedForest* RcfOperator::FindModel(std::string_view key) const {
  auto it = keys_.find(std::string(key));
  return it == keys_.end() ? nullptr : it->second.model.get();
}

}  // namespace osprey::operators
