// Kernel family: f32 matrix transpose, used by the batched fully-connected path (x to K x n,
// result tiles back to n x M).
//
// Contract: for r in [0, rows), c in [0, cols): dst[c*ldd + r] = src[r*lds + c].
//   src and dst must not overlap; no alignment required; only the named elements are touched.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_TRANSPOSE_PARAMS \
  int64_t rows, int64_t cols, const float *src, int64_t lds, float *dst, int64_t ldd

using F32TransposeFn = void (*)(SPARSE_RT_F32_TRANSPOSE_PARAMS);

#define SPARSE_RT_TRANSPOSE_KERNEL(name, isa, mr, nr) \
  namespace isa {                                     \
  void name(SPARSE_RT_F32_TRANSPOSE_PARAMS);          \
  }
#include "kernels/transpose/kernels.inc"
#undef SPARSE_RT_TRANSPOSE_KERNEL

}  // namespace sparse_rt::kernels
