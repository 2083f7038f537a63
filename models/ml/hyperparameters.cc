#include "models/ml/hyperparameters.h"

#include <charconv>
#include <cmath>
#include <system_error>

namespace osprey::models::ml {

const std::string* HyperparameterReader::Find(std::string_view key) {
  read_.emplace(key);
  auto it = params_.find(key);
  if (it == params_.end() || it->second == "auto") return nullptr;
  return &it->second;
}

void HyperparameterReader::Problem(std::string_view key, std::string message) {
  problems_.push_back({std::string(key), std::move(message)});
}

void HyperparameterReader::Int(std::string_view key, int* out, int lo, int hi) {
  const std::string* v = Find(key);
  if (v == nullptr) return;
  int parsed = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
    Problem(key, "expected an integer, got '" + *v + "'");
  } else if (parsed < lo || parsed > hi) {
    Problem(key, "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + *v);
  } else {
    *out = parsed;
  }
}

void HyperparameterReader::UInt64(std::string_view key, uint64_t* out) {
  const std::string* v = Find(key);
  if (v == nullptr) return;
  uint64_t parsed = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
    Problem(key, "expected a non-negative integer, got '" + *v + "'");
  } else {
    *out = parsed;
  }
}

void HyperparameterReader::Double(std::string_view key, double* out, double lo, double hi,
                                  bool lo_open) {
  const std::string* v = Find(key);
  if (v == nullptr) return;
  double parsed = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), parsed);
  if (ec != std::errc() || ptr != v->data() + v->size() || !std::isfinite(parsed)) {
    Problem(key, "expected a number, got '" + *v + "'");
  } else if ((lo_open ? parsed <= lo : parsed < lo) || parsed > hi) {
    std::string range = lo_open ? "> " : ">= ";
    range += std::to_string(lo);
    if (std::isfinite(hi)) range += " and <= " + std::to_string(hi);
    Problem(key, "must be " + range + ", got " + *v);
  } else {
    *out = parsed;
  }
}

void HyperparameterReader::Bool(std::string_view key, bool* out) {
  const std::string* v = Find(key);
  if (v == nullptr) return;
  if (*v == "true" || *v == "True" || *v == "1") {
    *out = true;
  } else if (*v == "false" || *v == "False" || *v == "0") {
    *out = false;
  } else {
    Problem(key, "expected true or false, got '" + *v + "'");
  }
}

void HyperparameterReader::Choice(std::string_view key, int* out,
                                  const std::vector<std::string_view>& names) {
  const std::string* v = Find(key);
  if (v == nullptr) return;
  std::string all;
  for (size_t idx = 0; idx < names.size(); ++idx) {
    if (names[idx] == *v) {
      *out = static_cast<int>(idx);
      return;
    }
    if (idx > 0) all += '|';
    all.append(names[idx]);
  }
  Problem(key, "expected one of " + all + ", got '" + *v + "'");
}

void HyperparameterReader::Finish() {
  for (const auto& [key, value] : params_) {
    if (!read_.contains(key)) Problem(key, "unknown hyperparameter for this algorithm");
  }
}

Status HyperparameterReader::ToStatus() const {
  std::string text;
  for (const auto& p : problems_) {
    if (!text.empty()) text += "\n";
    text += p.key + ": " + p.message;
  }
  return Status::InvalidArgument(text);
}

}  // namespace osprey::models::ml
