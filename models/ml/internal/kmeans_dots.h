#pragma once
// The k-means distance kernel's AVX2 + FMA build (kmeans_dots_avx2.cc, compiled with -mavx2
// -mfma; the rest of the project targets the baseline x86-64). Only plain pointers cross this
// header, so no inline function of Eigen or the standard library is compiled for AVX2 (which
// the linker could otherwise pick for baseline callers). Stateless; thread-safe.

#include <cstddef>

namespace osprey::models::ml::internal {

// True when kmeans_dots_avx2.cc was compiled with AVX2 + FMA (x86-64 GCC/Clang).
bool Avx2FmaKernelBuilt();

// True when the AVX2 build was compiled in and the CPU runs AVX2 and FMA. Defined in kmeans.cc,
// which is compiled for the baseline: the check itself must not use the instructions it checks.
bool CpuHasAvx2Fma();

// dst[r * dst_stride + j] = sum over f < d of x[r * d + f] * c[j * d + f], for r < n, j < k
// (x: n rows of d doubles, c: k rows of d doubles, both row-major and contiguous). Each output
// is computed alone (the same value for any row range a caller splits x into).
// REQUIRES: CpuHasAvx2Fma().
void DotsAvx2Fma(const double* x, std::ptrdiff_t n, std::ptrdiff_t d, const double* c,
                 std::ptrdiff_t k, double* dst, std::ptrdiff_t dst_stride);

}  // namespace osprey::models::ml::internal
