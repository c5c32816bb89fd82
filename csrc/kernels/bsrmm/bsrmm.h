// Kernel family: f32 BSR (r x c blocks) x dense matrix multiply with a fused bias + clamp
// epilogue. Each kernel serves one block shape (br x bc); nr == 1 kernels are the batch-1
// (matrix x vector) specialisations and are only called with n == 1.
//
// Contract (every kernel in kernels.inc), with R = br, C = bc:
//   for block row ib in [0, mb), rr in [0, R), j in [0, n):   (i = ib*R + rr)
//     y[i*ldy + j] = min(max(bias[i] + sum_{p in [indptr[ib], indptr[ib+1])}
//                               sum_{cc < C} values[p*R*C + rr*C + cc] * x[(indices[p]*C + cc)*ldx + j],
//                            out_min), out_max)
//   - values: R*C floats per block, row-major (the canonical BSR layout); indices: block
//     columns, valid for x (validated by the op layer). indptr: mb + 1 absolute offsets (a
//     sub-range of block rows is passed by offsetting indptr, bias and y).
//   - bias may be null (= 0). x must not overlap y. No alignment is required; tails are masked,
//     nothing outside the named elements is read or written.
//   - out_min/out_max encode the activation; NaN in the sum propagates through the clamp.
//   - Single-threaded; ops/ splits block rows across OpenMP threads.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_BSRMM_PARAMS                                                          \
  int64_t mb, int64_t n, const int32_t *indptr, const int32_t *indices, const float *values, \
      const float *x, int64_t ldx, const float *bias, float *y, int64_t ldy, float out_min,  \
      float out_max

using F32BsrmmFn = void (*)(SPARSE_RT_F32_BSRMM_PARAMS);

#define SPARSE_RT_BSRMM_KERNEL(name, isa, br, bc, mr, nr) \
  namespace isa {                                         \
  void name(SPARSE_RT_F32_BSRMM_PARAMS);                  \
  }
#include "kernels/bsrmm/kernels.inc"
#undef SPARSE_RT_BSRMM_KERNEL

}  // namespace sparse_rt::kernels
