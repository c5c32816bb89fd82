// Kernel family: f32 CSR matrix x vector (the batch-1 fully-connected layer) with a fused
// bias + clamp epilogue. Memory-bound: the packed stream uses 16-bit column indices when the
// matrix has at most 65536 columns (pack_csrmv in ops/ chooses), 32-bit otherwise.
//
// Contract (every kernel in kernels.inc):
//   for i in [0, m):
//     y[i] = min(max(bias[i] + sum_{p in [indptr[i], indptr[i+1])} values[p] * x[indices[p]],
//                    out_min), out_max)
//   - `indices` points at uint16_t (index_bits == 16) or int32_t (index_bits == 32) entries;
//     each is a valid position in x (validated by the op layer).
//   - indptr holds m + 1 absolute offsets (a sub-range of rows is passed by offsetting indptr,
//     bias and y); bias may be null (= 0).
//   - No alignment is required. Kernels read only values/indices in [indptr[0], indptr[m]) and
//     the x entries they name (tails are masked, never over-read) and write y[0..m). They may
//     issue prefetches (which never fault) for stream addresses past indptr[m].
//   - out_min/out_max encode the activation; NaN in the sum propagates through the clamp.
//   - Single-threaded; ops/ splits rows across OpenMP threads.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_CSRMV_PARAMS                                                      \
  int64_t m, const int32_t *indptr, const void *indices, const float *values,            \
      const float *x, const float *bias, float *y, float out_min, float out_max

using F32CsrmvFn = void (*)(SPARSE_RT_F32_CSRMV_PARAMS);

#define SPARSE_RT_CSRMV_KERNEL(name, isa, index_bits) \
  namespace isa {                                     \
  void name(SPARSE_RT_F32_CSRMV_PARAMS);              \
  }
#include "kernels/spmv/kernels.inc"
#undef SPARSE_RT_CSRMV_KERNEL

}  // namespace sparse_rt::kernels
