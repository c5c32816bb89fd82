// AVX-512 csrmm: one row of W at a time, 64 columns of x (4 zmm accumulators) per pass; each
// non-zero is broadcast and FMA'd into the tile. Tails: 16 columns, then a masked load/store.
#include <immintrin.h>

#include "kernels/spmm/spmm.h"

namespace sparse_rt::kernels::avx512 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

}  // namespace

void f32_csrmm_1x64__avx512(SPARSE_RT_F32_CSRMM_PARAMS) {
  const __m512 vmin = _mm512_set1_ps(out_min), vmax = _mm512_set1_ps(out_max);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p0 = indptr[i], p1 = indptr[i + 1];
    const __m512 vb = _mm512_set1_ps(bias ? bias[i] : 0.0f);
    float* yi = y + i * ldy;
    int64_t j = 0;
    for (; j + 64 <= n; j += 64) {
      __m512 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
      for (int32_t p = p0; p < p1; ++p) {
        const __m512 w = _mm512_set1_ps(values[p]);
        const float* xr = x + int64_t{indices[p]} * ldx + j;
        a0 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr), a0);
        a1 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr + 16), a1);
        a2 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr + 32), a2);
        a3 = _mm512_fmadd_ps(w, _mm512_loadu_ps(xr + 48), a3);
      }
      _mm512_storeu_ps(yi + j, clamp(a0, vmin, vmax));
      _mm512_storeu_ps(yi + j + 16, clamp(a1, vmin, vmax));
      _mm512_storeu_ps(yi + j + 32, clamp(a2, vmin, vmax));
      _mm512_storeu_ps(yi + j + 48, clamp(a3, vmin, vmax));
    }
    for (; j + 16 <= n; j += 16) {
      __m512 a = vb;
      for (int32_t p = p0; p < p1; ++p)
        a = _mm512_fmadd_ps(_mm512_set1_ps(values[p]),
                            _mm512_loadu_ps(x + int64_t{indices[p]} * ldx + j), a);
      _mm512_storeu_ps(yi + j, clamp(a, vmin, vmax));
    }
    if (j < n) {
      const __mmask16 mask = static_cast<__mmask16>((1u << (n - j)) - 1u);
      __m512 a = vb;
      for (int32_t p = p0; p < p1; ++p)
        a = _mm512_fmadd_ps(_mm512_set1_ps(values[p]),
                            _mm512_maskz_loadu_ps(mask, x + int64_t{indices[p]} * ldx + j), a);
      _mm512_mask_storeu_ps(yi + j, mask, clamp(a, vmin, vmax));
    }
  }
}

}  // namespace sparse_rt::kernels::avx512
