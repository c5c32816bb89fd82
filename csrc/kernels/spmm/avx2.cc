// AVX2 + FMA csrmm: one row of W at a time, 32 columns of x (4 ymm accumulators) per pass;
// each non-zero is broadcast and FMA'd into the tile. Tails: 8 columns, then a masked load/store.
#include <immintrin.h>

#include "kernels/spmm/spmm.h"

namespace sparse_rt::kernels::avx2 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

__m256i tail_mask(int64_t count) {  // lanes [0, count) set, 0 < count < 8
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

}  // namespace

void f32_csrmm_1x32__avx2(SPARSE_RT_F32_CSRMM_PARAMS) {
  const __m256 vmin = _mm256_set1_ps(out_min), vmax = _mm256_set1_ps(out_max);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p0 = indptr[i], p1 = indptr[i + 1];
    const __m256 vb = _mm256_set1_ps(bias ? bias[i] : 0.0f);
    float* yi = y + i * ldy;
    int64_t j = 0;
    for (; j + 32 <= n; j += 32) {
      __m256 a0 = vb, a1 = vb, a2 = vb, a3 = vb;
      for (int32_t p = p0; p < p1; ++p) {
        const __m256 w = _mm256_broadcast_ss(values + p);
        const float* xr = x + int64_t{indices[p]} * ldx + j;
        a0 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr), a0);
        a1 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr + 8), a1);
        a2 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr + 16), a2);
        a3 = _mm256_fmadd_ps(w, _mm256_loadu_ps(xr + 24), a3);
      }
      _mm256_storeu_ps(yi + j, clamp(a0, vmin, vmax));
      _mm256_storeu_ps(yi + j + 8, clamp(a1, vmin, vmax));
      _mm256_storeu_ps(yi + j + 16, clamp(a2, vmin, vmax));
      _mm256_storeu_ps(yi + j + 24, clamp(a3, vmin, vmax));
    }
    for (; j + 8 <= n; j += 8) {
      __m256 a = vb;
      for (int32_t p = p0; p < p1; ++p)
        a = _mm256_fmadd_ps(_mm256_broadcast_ss(values + p),
                            _mm256_loadu_ps(x + int64_t{indices[p]} * ldx + j), a);
      _mm256_storeu_ps(yi + j, clamp(a, vmin, vmax));
    }
    if (j < n) {
      const __m256i mask = tail_mask(n - j);
      __m256 a = vb;
      for (int32_t p = p0; p < p1; ++p)
        a = _mm256_fmadd_ps(_mm256_broadcast_ss(values + p),
                            _mm256_maskload_ps(x + int64_t{indices[p]} * ldx + j, mask), a);
      _mm256_maskstore_ps(yi + j, mask, clamp(a, vmin, vmax));
    }
  }
}

}  // namespace sparse_rt::kernels::avx2
