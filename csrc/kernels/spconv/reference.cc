// Scalar oracle for the spconv family: the plainest loop over the contract, used as the test
// reference and as the path on CPUs without AVX2.
#include <algorithm>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::scalar {
namespace {

template <int MR>
void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  (void)flags;  // the reference never reads past its range and shifts its loads
  for (int64_t g = 0; g < m / MR; ++g)
    for (int r = 0; r < MR; ++r) {
      const int64_t i = g * MR + r;
      for (int64_t q = q0; q < q0 + n; ++q) {
        if (!acc_out && q % wq >= wout) continue;
        float acc = acc_in ? acc_in[i * lda + q - q0] : bias ? bias[i] : 0.0f;
        for (int j = 0; j < shifts; ++j) {
          const int64_t s = shift ? shift[j] : 0;
          for (int32_t p = indptr[g * ips + j]; p < indptr[g * ips + j + 1]; ++p)
            acc += values[int64_t{p} * MR + r] * x[offsets[p] + s + q];
        }
        if (acc_out) {
          acc_out[i * lda + q - q0] = acc;
        } else {  // NaN stays NaN: std::max/min return their first argument when unordered
          const int64_t o = i * ldy + (q / wq) * wout + q % wq;
          if (res) acc += res[o];
          y[o] = std::min(std::max(acc, out_min), out_max);
        }
      }
    }
}

}  // namespace

#define SPARSE_RT_ARGS \
  m, q0, n, indptr, ips, shifts, shift, offsets, values, x, acc_in, acc_out, lda, bias, y, res, ldy, \
      wq, wout, out_min, out_max, flags
void f32_spconv_1x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<1>(SPARSE_RT_ARGS); }
void f32_spconv_4x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<4>(SPARSE_RT_ARGS); }
void f32_spconv_8x1__reference(SPARSE_RT_F32_SPCONV_PARAMS) { spconv<8>(SPARSE_RT_ARGS); }
#undef SPARSE_RT_ARGS

}  // namespace sparse_rt::kernels::scalar
