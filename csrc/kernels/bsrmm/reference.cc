// Scalar oracle for the bsrmm family: the plainest loop, the test reference and the fallback
// on CPUs without AVX2. Unlike the SIMD kernels, the reference kernels accept any n.
#include <algorithm>

#include "kernels/bsrmm/bsrmm.h"

namespace sparse_rt::kernels::scalar {
namespace {

template <int R, int C>
void bsrmm(SPARSE_RT_F32_BSRMM_PARAMS) {
  for (int64_t ib = 0; ib < mb; ++ib)
    for (int rr = 0; rr < R; ++rr) {
      const int64_t i = ib * R + rr;
      for (int64_t j = 0; j < n; ++j) {
        float acc = bias ? bias[i] : 0.0f;
        for (int32_t p = indptr[ib]; p < indptr[ib + 1]; ++p)
          for (int cc = 0; cc < C; ++cc)
            acc += values[int64_t{p} * R * C + rr * C + cc] *
                   x[(int64_t{indices[p]} * C + cc) * ldx + j];
        y[i * ldy + j] = std::min(std::max(acc, out_min), out_max);
      }
    }
}

}  // namespace

#define SPARSE_RT_BSRMM_KERNEL(name, isa, br, bc, mr, nr) \
  SPARSE_RT_BSRMM_REF_##isa(name, br, bc)
#define SPARSE_RT_BSRMM_REF_scalar(name, br, bc) \
  void name(SPARSE_RT_F32_BSRMM_PARAMS) {        \
    bsrmm<br, bc>(mb, n, indptr, indices, values, x, ldx, bias, y, ldy, out_min, out_max); \
  }
#define SPARSE_RT_BSRMM_REF_avx2(name, br, bc)
#define SPARSE_RT_BSRMM_REF_avx512(name, br, bc)
#include "kernels/bsrmm/kernels.inc"
#undef SPARSE_RT_BSRMM_KERNEL

}  // namespace sparse_rt::kernels::scalar
