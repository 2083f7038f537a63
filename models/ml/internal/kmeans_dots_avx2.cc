// Compiled with -mavx2 -mfma (models/CMakeLists.txt) when the compiler targets x86-64; only
// called after CpuHasAvx2Fma(). Includes no header with inline functions besides intrinsics.
#include "models/ml/internal/kmeans_dots.h"

#if defined(__x86_64__) && defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define OSPREY_KMEANS_AVX2_BUILD 1
#else
#define OSPREY_KMEANS_AVX2_BUILD 0
#endif

namespace osprey::models::ml::internal {

#if OSPREY_KMEANS_AVX2_BUILD
namespace {

// out[j] = x . c_j for the G centroids c, c + d, ...: four partial sums per centroid (fused
// multiply-adds over features 0..d-d%4), added pairwise, then the tail. Accumulators stay in
// registers.
template <int G>
inline void RowDots(const double* x, std::ptrdiff_t d, const double* c, double* out) {
  const std::ptrdiff_t d4 = d - d % 4;
  __m256d acc[G];
  for (int j = 0; j < G; ++j) acc[j] = _mm256_setzero_pd();
  for (std::ptrdiff_t f = 0; f < d4; f += 4) {
    const __m256d xv = _mm256_loadu_pd(x + f);
    for (int j = 0; j < G; ++j) acc[j] = _mm256_fmadd_pd(xv, _mm256_loadu_pd(c + j * d + f), acc[j]);
  }
  for (int j = 0; j < G; ++j) {
    alignas(32) double lanes[4];
    _mm256_store_pd(lanes, acc[j]);
    double tail = 0.0;
    for (std::ptrdiff_t f = d4; f < d; ++f) tail += x[f] * c[j * d + f];
    out[j] = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + tail;
  }
}

}  // namespace

bool CpuHasAvx2Fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") != 0 && __builtin_cpu_supports("fma") != 0;
}

void DotsAvx2Fma(const double* x, std::ptrdiff_t n, std::ptrdiff_t d, const double* c,
                 std::ptrdiff_t k, double* dst, std::ptrdiff_t dst_stride) {
  for (std::ptrdiff_t r = 0; r < n; ++r) {
    const double* xr = x + r * d;
    double* out = dst + r * dst_stride;
    std::ptrdiff_t j = 0;
    for (; j + 8 <= k; j += 8) RowDots<8>(xr, d, c + j * d, out + j);
    if (j + 4 <= k) {
      RowDots<4>(xr, d, c + j * d, out + j);
      j += 4;
    }
    if (j + 2 <= k) {
      RowDots<2>(xr, d, c + j * d, out + j);
      j += 2;
    }
    if (j < k) RowDots<1>(xr, d, c + j * d, out + j);
  }
}

#else

bool CpuHasAvx2Fma() { return false; }

void DotsAvx2Fma(const double*, std::ptrdiff_t, std::ptrdiff_t, const double*, std::ptrdiff_t,
                 double*, std::ptrdiff_t) {}

#endif

}  // namespace osprey::models::ml::internal
