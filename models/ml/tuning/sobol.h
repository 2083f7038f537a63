// SobolSequence: the Sobol low-discrepancy sequence in [0, 1)^d (Gray-code order, 32-bit), with
// direction numbers from Joe and Kuo's published table (new-joe-kuo-6.21201), for up to 32
// dimensions; optionally digitally shifted (each coordinate XORed with a seeded random word),
// which keeps the sequence's stratification and makes each seed a different design.
// Thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

namespace osprey::models::ml {

class SobolSequence {
 public:
  static constexpr int kMaxDimensions = 32;

  // REQUIRES: 1 <= dimensions <= kMaxDimensions. shift_seed 0 = unshifted (the first point is
  // then all zeros, the second all 0.5).
  explicit SobolSequence(int dimensions, uint64_t shift_seed = 0);

  // The next point, starting at index 0.
  std::vector<double> Next();
  int dimensions() const { return dimensions_; }
  uint64_t index() const { return index_; }

 private:
  int dimensions_;
  uint64_t index_ = 0;
  std::vector<std::array<uint32_t, 32>> directions_;  // [dimension][bit]: V_1 .. V_32
  std::vector<uint32_t> state_;                       // X_index, unshifted
  std::vector<uint32_t> shift_;
};

}  // namespace osprey::models::ml
