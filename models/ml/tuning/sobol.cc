#include "models/ml/tuning/sobol.h"

#include <bit>

#include "config/base/check.h"
#include "models/rcf/rng.h"

namespace osprey::models::ml {

namespace {

// Joe and Kuo, "Constructing Sobol sequences with better two-dimensional projections", SIAM J.
// Sci. Comput. 30 (2008); their table new-joe-kuo-6.21201, dimensions 2 to 32: the degree s of
// the primitive polynomial, its coefficients a, and the initial direction integers m_1 .. m_s.
// Dimension 1 (all m_k = 1) is implicit.
struct JoeKuoRow {
  int s;
  uint32_t a;
  std::array<uint32_t, 8> m;
};
constexpr JoeKuoRow kJoeKuo[] = {
    {1, 0, {1}},
    {2, 1, {1, 3}},
    {3, 1, {1, 3, 1}},
    {3, 2, {1, 1, 1}},
    {4, 1, {1, 1, 3, 3}},
    {4, 4, {1, 3, 5, 13}},
    {5, 2, {1, 1, 5, 5, 17}},
    {5, 4, {1, 1, 5, 5, 5}},
    {5, 7, {1, 1, 7, 11, 19}},
    {5, 11, {1, 1, 5, 1, 1}},
    {5, 13, {1, 1, 1, 3, 11}},
    {5, 14, {1, 3, 5, 5, 31}},
    {6, 1, {1, 3, 3, 9, 7, 49}},
    {6, 13, {1, 1, 1, 15, 21, 21}},
    {6, 16, {1, 3, 1, 13, 27, 49}},
    {6, 19, {1, 1, 1, 15, 7, 5}},
    {6, 22, {1, 3, 1, 15, 13, 25}},
    {6, 25, {1, 1, 5, 5, 19, 61}},
    {7, 1, {1, 3, 7, 11, 23, 15, 103}},
    {7, 4, {1, 3, 7, 13, 13, 15, 69}},
    {7, 7, {1, 1, 3, 13, 7, 35, 63}},
    {7, 8, {1, 3, 5, 9, 1, 25, 53}},
    {7, 14, {1, 3, 1, 13, 9, 35, 107}},
    {7, 19, {1, 3, 1, 5, 27, 61, 31}},
    {7, 21, {1, 1, 5, 11, 19, 41, 61}},
    {7, 28, {1, 3, 5, 3, 3, 13, 69}},
    {7, 31, {1, 1, 7, 13, 1, 19, 1}},
    {7, 32, {1, 3, 7, 5, 13, 19, 59}},
    {7, 37, {1, 1, 3, 9, 25, 29, 41}},
    {7, 41, {1, 3, 5, 13, 23, 1, 55}},
    {7, 42, {1, 3, 7, 3, 13, 59, 17}},
};
static_assert(std::size(kJoeKuo) + 1 == SobolSequence::kMaxDimensions);

}  // namespace

SobolSequence::SobolSequence(int dimensions, uint64_t shift_seed)
    : dimensions_(dimensions),
      directions_(static_cast<size_t>(dimensions)),
      state_(static_cast<size_t>(dimensions), 0),
      shift_(static_cast<size_t>(dimensions), 0) {
  OSPREY_CHECK(dimensions >= 1 && dimensions <= kMaxDimensions) << "dimensions " << dimensions;
  for (int k = 0; k < 32; ++k) directions_[0][static_cast<size_t>(k)] = 1u << (31 - k);
  for (int d = 1; d < dimensions; ++d) {
    const JoeKuoRow& row = kJoeKuo[d - 1];
    auto& v = directions_[static_cast<size_t>(d)];
    // V_k = m_k / 2^k, held as 32-bit fractions; then the recurrence of the polynomial.
    for (int k = 0; k < row.s; ++k) {
      v[static_cast<size_t>(k)] = row.m[static_cast<size_t>(k)] << (31 - k);
    }
    for (int k = row.s; k < 32; ++k) {
      uint32_t x = v[static_cast<size_t>(k - row.s)] ^ (v[static_cast<size_t>(k - row.s)] >> row.s);
      for (int i = 1; i < row.s; ++i) {
        if ((row.a >> (row.s - 1 - i)) & 1u) x ^= v[static_cast<size_t>(k - i)];
      }
      v[static_cast<size_t>(k)] = x;
    }
  }
  if (shift_seed != 0) {
    rcf::Rng rng(shift_seed);
    for (auto& s : shift_) s = static_cast<uint32_t>(rng.NextU64() >> 32);
  }
}

std::vector<double> SobolSequence::Next() {
  if (index_ > 0) {
    // Gray-code order: X_n = X_{n-1} ^ V_c, c = the lowest zero bit of n - 1.
    const int c = std::countr_one(index_ - 1);
    OSPREY_CHECK(c < 32) << "Sobol sequence exhausted";
    for (size_t d = 0; d < state_.size(); ++d) state_[d] ^= directions_[d][static_cast<size_t>(c)];
  }
  ++index_;
  std::vector<double> out(state_.size());
  for (size_t d = 0; d < state_.size(); ++d) {
    out[d] = static_cast<double>(state_[d] ^ shift_[d]) * 0x1.0p-32;
  }
  return out;
}

}  // namespace osprey::models::ml
