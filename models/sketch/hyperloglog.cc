#include "models/sketch/hyperloglog.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "config/base/check.h"

namespace osprey::models {

namespace {

// Ertl 2017, Algorithm 6 helpers.
double Sigma(double x) {
  if (x == 1.0) return std::numeric_limits<double>::infinity();
  double y = 1.0;
  double z = x;
  while (true) {
    x *= x;
    double z_old = z;
    z += x * y;
    y += y;
    if (z == z_old) return z;
  }
}

double Tau(double x) {
  if (x == 0.0 || x == 1.0) return 0.0;
  double y = 1.0;
  double z = 1.0 - x;
  while (true) {
    x = std::sqrt(x);
    double z_old = z;
    y *= 0.5;
    z -= (1.0 - x) * (1.0 - x) * y;
    if (z == z_old) return z / 3.0;
  }
}

}  // namespace

HyperLogLog::HyperLogLog(int precision) : precision_(precision) {
  OSPREY_CHECK(precision >= kMinPrecision && precision <= kMaxPrecision) << precision;
}

uint64_t HyperLogLog::HashString(std::string_view v) {
  uint64_t h = 0xcbf29ce484222325ULL ^ v.size();  // FNV-1a, then mixed
  for (char c : v) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x100000001b3ULL;
  }
  return Mix64(h);
}

double HyperLogLog::relative_standard_error() const {
  return 1.04 / std::sqrt(static_cast<double>(uint64_t{1} << precision_));
}

void HyperLogLog::AddHash(uint64_t hash) {
  auto idx = static_cast<uint32_t>(hash >> (64 - precision_));
  uint64_t rest = hash << precision_;
  int q = 64 - precision_;
  auto rho = static_cast<uint8_t>(rest == 0 ? q + 1 : std::countl_zero(rest) + 1);
  SetRegister(idx, rho);
}

void HyperLogLog::SetRegister(uint32_t idx, uint8_t rho) {
  if (!dense_.empty()) {
    if (dense_[idx] < rho) dense_[idx] = rho;
    return;
  }
  uint32_t entry = (idx << 8) | rho;
  auto it = std::lower_bound(sparse_.begin(), sparse_.end(), idx << 8);
  if (it != sparse_.end() && (*it >> 8) == idx) {
    if ((*it & 0xFF) < rho) *it = entry;
    return;
  }
  sparse_.insert(it, entry);
  // Sparse costs 4 bytes per set register; switch once that passes 1/8 of the dense size.
  if (sparse_.size() > (size_t{1} << precision_) / 32) ToDense();
}

void HyperLogLog::ToDense() {
  dense_.assign(size_t{1} << precision_, 0);
  for (uint32_t e : sparse_) dense_[e >> 8] = static_cast<uint8_t>(e & 0xFF);
  sparse_.clear();
  sparse_.shrink_to_fit();
}

void HyperLogLog::Clear() {
  sparse_.clear();
  if (!dense_.empty()) {
    dense_.clear();
    dense_.shrink_to_fit();
  }
}

double HyperLogLog::Estimate() const {
  const int q = 64 - precision_;
  const double m = static_cast<double>(uint64_t{1} << precision_);
  int64_t histogram[66] = {};
  int top = q;  // no register value above this
  if (dense_.empty()) {
    histogram[0] = static_cast<int64_t>(m) - static_cast<int64_t>(sparse_.size());
    top = 0;
    for (uint32_t e : sparse_) {
      ++histogram[e & 0xFF];
      top = std::max(top, static_cast<int>(e & 0xFF));
    }
  } else {
    for (uint8_t r : dense_) ++histogram[r];
  }
  double z = m * Tau(1.0 - static_cast<double>(histogram[q + 1]) / m);
  int k = q;
  if (z == 0.0) {  // halving 0 is exact: start at the highest non-empty register value
    k = std::min(k, top);
    while (k >= 1 && histogram[k] == 0) --k;
  }
  for (; k >= 1; --k) z = 0.5 * (z + static_cast<double>(histogram[k]));
  z += m * Sigma(static_cast<double>(histogram[0]) / m);
  constexpr double kAlphaInf = 0.7213475204444817;  // 1 / (2 ln 2)
  return kAlphaInf * m * m / z;
}

Status HyperLogLog::Merge(const HyperLogLog& other) {
  if (other.precision_ != precision_) {
    return Status::InvalidArgument("hyperloglog merge: precision " +
                                   std::to_string(other.precision_) + " into " +
                                   std::to_string(precision_));
  }
  if (!other.dense_.empty()) {
    if (dense_.empty()) ToDense();
    for (size_t idx = 0; idx < dense_.size(); ++idx) {
      dense_[idx] = std::max(dense_[idx], other.dense_[idx]);
    }
    return Status::Ok();
  }
  for (uint32_t e : other.sparse_) SetRegister(e >> 8, static_cast<uint8_t>(e & 0xFF));
  return Status::Ok();
}

void HyperLogLog::Save(ByteWriter& w) const {
  w.Put<uint8_t>(kFormatVersion);
  w.Put<uint8_t>(static_cast<uint8_t>(precision_));
  w.Put<uint8_t>(dense_.empty() ? 0 : 1);
  if (dense_.empty()) {
    w.PutVector(sparse_);
  } else {
    w.PutVector(dense_);
  }
}

Result<HyperLogLog> HyperLogLog::Load(ByteReader& r) {
  uint8_t version = 0, precision = 0, dense = 0;
  if (!r.Get(&version) || version != kFormatVersion) {
    return Status::Corruption("hyperloglog: missing or unsupported format version");
  }
  if (!r.Get(&precision) || !r.Get(&dense) || precision < kMinPrecision ||
      precision > kMaxPrecision || dense > 1) {
    return Status::Corruption("hyperloglog: bad header");
  }
  HyperLogLog hll(precision);
  const uint64_t m = uint64_t{1} << precision;
  const int max_rho = 64 - precision + 1;
  if (dense == 0) {
    if (!r.GetVector(&hll.sparse_, m)) return Status::Corruption("hyperloglog: truncated");
    for (size_t idx = 0; idx < hll.sparse_.size(); ++idx) {
      uint32_t e = hll.sparse_[idx];
      if ((e >> 8) >= m || (e & 0xFF) == 0 || static_cast<int>(e & 0xFF) > max_rho ||
          (idx > 0 && (hll.sparse_[idx - 1] >> 8) >= (e >> 8))) {
        return Status::Corruption("hyperloglog: bad sparse entry");
      }
    }
  } else {
    if (!r.GetVector(&hll.dense_, m) || hll.dense_.size() != m) {
      return Status::Corruption("hyperloglog: truncated");
    }
    for (uint8_t reg : hll.dense_) {
      if (reg > max_rho) return Status::Corruption("hyperloglog: bad register");
    }
  }
  return hll;
}

}  // namespace osprey::models
