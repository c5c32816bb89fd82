// Scalar oracle for the csrmv family: the plainest loop, the test reference and the fallback
// on CPUs without AVX2.
#include <algorithm>

#include "kernels/spmv/spmv.h"

namespace sparse_rt::kernels::scalar {
namespace {

template <typename Index>
void csrmv(SPARSE_RT_F32_CSRMV_PARAMS) {
  const Index* idx = static_cast<const Index*>(indices);
  for (int64_t i = 0; i < m; ++i) {
    float acc = bias ? bias[i] : 0.0f;
    for (int32_t p = indptr[i]; p < indptr[i + 1]; ++p) acc += values[p] * x[idx[p]];
    y[i] = std::min(std::max(acc, out_min), out_max);
  }
}

}  // namespace

void f32_csrmv_1x1__reference(SPARSE_RT_F32_CSRMV_PARAMS) {
  csrmv<int32_t>(m, indptr, indices, values, x, bias, y, out_min, out_max);
}
void f32_csrmv16_1x1__reference(SPARSE_RT_F32_CSRMV_PARAMS) {
  csrmv<uint16_t>(m, indptr, indices, values, x, bias, y, out_min, out_max);
}

}  // namespace sparse_rt::kernels::scalar
