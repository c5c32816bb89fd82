// Scalar oracle for the spconv family: the plainest loop over the contract, used as the test
// reference and as the path on CPUs without AVX2.
#include <algorithm>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::scalar {
namespace {

template <int MR>
void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  for (int64_t g = 0; g < m / MR; ++g)
    for (int r = 0; r < MR; ++r) {
      const float b = bias ? bias[g * MR + r] : 0.0f;
      float* yr = y + (g * MR + r) * ldy;
      for (int64_t q = q0; q < q0 + n; ++q) {
        if (q % wq >= wout) continue;
        float acc = b;
        for (int32_t p = indptr[g]; p < indptr[g + 1]; ++p)
          acc += values[int64_t{p} * MR + r] * x[offsets[p] + q];
        yr[(q / wq) * wout + q % wq] = std::min(std::max(acc, out_min), out_max);  // NaN stays
      }
    }
}

}  // namespace

void f32_spconv_1x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<1>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_4x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<4>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_8x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<8>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}

}  // namespace sparse_rt::kernels::scalar
