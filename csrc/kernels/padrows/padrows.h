// Kernel family: f32 zero-padded, column-strided row copy ("padrows"). Builds the phase-split,
// zero-padded input planes of the direct convolution (ops/conv.cc), a run of plane rows per call:
// a padded 3x3 layer copies its whole input this way every call, ~10% of its time with libc's
// memcpy + fills per row (docs/architecture-conv.md, "The input copy").
//
// Contract (every kernel in kernels.inc): for r in [0, rows), j in [0, wq):
//     dst[r * ldd + j] = (j0 <= j < j1) ? src[r * lds + (j - j0) * sw] : 0
//   - 0 <= j0 <= j1 <= wq, sw >= 1, rows >= 0. src is the source of (r = 0, j = j0); it is not
//     read when j0 == j1.
//   - [lo, hi) is a span of readable floats holding every source element named above (the
//     caller's whole input tensor). SIMD kernels may also read other floats of that span and
//     ignore them (a vector load across a row edge); they never read outside it.
//   - dst must not overlap [lo, hi). No alignment required. Single-threaded.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_PADROWS_PARAMS                                                       \
  int64_t rows, int64_t wq, int64_t j0, int64_t j1, int64_t sw, const float *src,          \
      int64_t lds, float *dst, int64_t ldd, const float *lo, const float *hi

using F32PadrowsFn = void (*)(SPARSE_RT_F32_PADROWS_PARAMS);

#define SPARSE_RT_PADROWS_KERNEL(name, isa) \
  namespace isa {                           \
  void name(SPARSE_RT_F32_PADROWS_PARAMS);  \
  }
#include "kernels/padrows/kernels.inc"
#undef SPARSE_RT_PADROWS_KERNEL

}  // namespace sparse_rt::kernels
