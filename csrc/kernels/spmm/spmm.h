// Kernel family: f32 sparse (CSR) x dense matrix multiply with a fused bias + clamp epilogue.
//
// Contract (every kernel in kernels.inc):
//   for i in [0, m), j in [0, n):
//     y[i*ldy + j] = min(max(bias[i] + sum_{p in [indptr[i], indptr[i+1])}
//                                values[p] * x[indices[p]*ldx + j], out_min), out_max)
//   - indptr holds m + 1 absolute offsets into indices/values (callers pass a sub-range of
//     rows by offsetting indptr, bias and y; indptr[0] need not be 0).
//   - indices point at uint16_t (index_bits == 16, for x with at most 65536 rows) or int32_t
//     (index_bits == 32) entries, each a valid row of x (the op layer validated them); the
//     16-bit stream saves a quarter of the bytes per non-zero. bias may be null (= 0).
//   - x is read-only and must not overlap y; no alignment is required; kernels read and write
//     only the elements named above (tails are masked, never over-read); they may issue
//     prefetches (which never fault) for values/indices addresses past indptr[m].
//   - out_min/out_max encode the activation: (-inf, inf) none, (0, inf) ReLU, (0, 6) ReLU6.
//   - Kernels are single-threaded; ops/ splits rows across OpenMP threads.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_CSRMM_PARAMS                                                          \
  int64_t m, int64_t n, const int32_t *indptr, const void *indices, int index_bits,         \
      const float *values, const float *x, int64_t ldx, const float *bias, float *y,         \
      int64_t ldy, float out_min, float out_max

using F32CsrmmFn = void (*)(SPARSE_RT_F32_CSRMM_PARAMS);

// Calls f with `indices` as a pointer of its stored width (index_bits 16: uint16_t, else
// int32_t), so a kernel body is written once as a template over the index type.
template <typename F>
inline void with_index_width(const void* indices, int index_bits, F&& f) {
  if (index_bits == 16)
    f(static_cast<const uint16_t*>(indices));
  else
    f(static_cast<const int32_t*>(indices));
}

#define SPARSE_RT_CSRMM_KERNEL(name, isa, mr, nr) \
  namespace isa {                                 \
  void name(SPARSE_RT_F32_CSRMM_PARAMS);          \
  }
#include "kernels/spmm/kernels.inc"
#undef SPARSE_RT_CSRMM_KERNEL

}  // namespace sparse_rt::kernels
