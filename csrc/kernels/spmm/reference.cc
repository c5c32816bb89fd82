// Scalar oracle for the csrmm family: the plainest possible loop, used as the test reference
// and as the fallback path on CPUs without AVX2.
#include <algorithm>

#include "kernels/spmm/spmm.h"

namespace sparse_rt::kernels::scalar {

namespace {

template <typename Idx>
void csrmm(int64_t m, int64_t n, const int32_t* indptr, const Idx* indices, const float* values,
           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy, float out_min,
           float out_max) {
  for (int64_t i = 0; i < m; ++i) {
    const float b = bias ? bias[i] : 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      float acc = b;
      for (int32_t p = indptr[i]; p < indptr[i + 1]; ++p)
        acc += values[p] * x[int64_t{indices[p]} * ldx + j];
      y[i * ldy + j] = std::min(std::max(acc, out_min), out_max);
    }
  }
}

}  // namespace

void f32_csrmm_1x1__reference(SPARSE_RT_F32_CSRMM_PARAMS) {
  with_index_width(indices, index_bits, [&](auto idx) {
    csrmm(m, n, indptr, idx, values, x, ldx, bias, y, ldy, out_min, out_max);
  });
}

}  // namespace sparse_rt::kernels::scalar
