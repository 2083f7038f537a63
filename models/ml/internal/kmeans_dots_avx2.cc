// Compiled with -mavx2 -mfma (models/CMakeLists.txt) when the compiler targets x86-64; only
// called after CpuHasAvx2Fma() (kmeans.cc: the CPU check is compiled for the baseline). Includes no header with inline functions besides intrinsics.
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

// out[r * out_stride + j] = x_r . c_j for R rows (x, x + d, ...) and G <= 4 centroids (c, c + d,
// ...): per output four partial sums (fused multiply-adds; the last d % 4 features through a
// masked load, the other lanes adding exact zeros), then (s0 + s1) + (s2 + s3). Every output
// is the same sequence of operations whatever R and G: R only lets a loaded centroid serve two
// rows (fewer loads per multiply-add; the accumulators stay in registers).
template <int R, int G>
inline void BlockDots(const double* x, std::ptrdiff_t d, const double* c, double* out,
                      std::ptrdiff_t out_stride) {
  const std::ptrdiff_t d4 = d - d % 4;
  __m256d acc[R][4];
  for (int r = 0; r < R; ++r) {
    for (int j = 0; j < 4; ++j) acc[r][j] = _mm256_setzero_pd();
  }
  for (std::ptrdiff_t f = 0; f < d4; f += 4) {
    __m256d xv[R];
    for (int r = 0; r < R; ++r) xv[r] = _mm256_loadu_pd(x + r * d + f);
    for (int j = 0; j < G; ++j) {
      const __m256d cv = _mm256_loadu_pd(c + j * d + f);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_pd(xv[r], cv, acc[r][j]);
    }
  }
  if (d4 < d) {
    const __m256i mask =
        _mm256_cmpgt_epi64(_mm256_set1_epi64x(d - d4), _mm256_set_epi64x(3, 2, 1, 0));
    __m256d xv[R];
    for (int r = 0; r < R; ++r) xv[r] = _mm256_maskload_pd(x + r * d + d4, mask);
    for (int j = 0; j < G; ++j) {
      const __m256d cv = _mm256_maskload_pd(c + j * d + d4, mask);
      for (int r = 0; r < R; ++r) acc[r][j] = _mm256_fmadd_pd(xv[r], cv, acc[r][j]);
    }
  }
  for (int r = 0; r < R; ++r) {
    // hadd: [a0+a1, b0+b1, a2+a3, b2+b3]; the two 128-bit halves of both then line up.
    const __m256d ab = _mm256_hadd_pd(acc[r][0], acc[r][1]);
    const __m256d cd = _mm256_hadd_pd(acc[r][2], acc[r][3]);
    const __m256d sums =
        _mm256_add_pd(_mm256_permute2f128_pd(ab, cd, 0x20), _mm256_permute2f128_pd(ab, cd, 0x31));
    double* o = out + r * out_stride;
    if constexpr (G == 4) {
      _mm256_storeu_pd(o, sums);
    } else {
      alignas(32) double lanes[4];
      _mm256_store_pd(lanes, sums);
      for (int j = 0; j < G; ++j) o[j] = lanes[j];
    }
  }
}

template <int R>
inline void RowsDots(const double* x, std::ptrdiff_t d, const double* c, std::ptrdiff_t k,
                     double* out, std::ptrdiff_t out_stride) {
  std::ptrdiff_t j = 0;
  for (; j + 4 <= k; j += 4) BlockDots<R, 4>(x, d, c + j * d, out + j, out_stride);
  switch (k - j) {
    case 3:
      BlockDots<R, 3>(x, d, c + j * d, out + j, out_stride);
      break;
    case 2:
      BlockDots<R, 2>(x, d, c + j * d, out + j, out_stride);
      break;
    case 1:
      BlockDots<R, 1>(x, d, c + j * d, out + j, out_stride);
      break;
    default:
      break;
  }
}

}  // namespace

bool Avx2FmaKernelBuilt() { return true; }

void DotsAvx2Fma(const double* x, std::ptrdiff_t n, std::ptrdiff_t d, const double* c,
                 std::ptrdiff_t k, double* dst, std::ptrdiff_t dst_stride) {
  std::ptrdiff_t r = 0;
  for (; r + 2 <= n; r += 2) RowsDots<2>(x + r * d, d, c, k, dst + r * dst_stride, dst_stride);
  if (r < n) RowsDots<1>(x + r * d, d, c, k, dst + r * dst_stride, dst_stride);
}

#else

bool Avx2FmaKernelBuilt() { return false; }

void DotsAvx2Fma(const double*, std::ptrdiff_t, std::ptrdiff_t, const double*, std::ptrdiff_t,
                 double*, std::ptrdiff_t) {}

#endif

}  // namespace osprey::models::ml::internal
