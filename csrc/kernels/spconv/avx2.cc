// AVX2 spconv: a row group of MR output channels x K ymm (8 pixels each) of accumulators; each
// loaded input vector serves MR output channels. The pixel tail uses vmaskmov loads/stores
// (never over-reads).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::avx2 {
namespace {

inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}

inline __m256i tail_mask(int64_t len) {
  const int64_t l = std::max<int64_t>(0, std::min<int64_t>(8, len));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(l)),
                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

inline void scatter_rows(const float* t, int64_t q, int64_t len, float* yrow, int64_t wq,
                         int64_t wout) {
  int64_t oy = q / wq, ox = q % wq;
  while (len > 0) {
    const int64_t span = std::min<int64_t>(len, wq - ox);
    if (ox < wout) {
      const int64_t valid = std::min<int64_t>(span, wout - ox);
      std::memcpy(yrow + oy * wout + ox, t, static_cast<size_t>(valid) * sizeof(float));
    }
    t += span;
    len -= span;
    ++oy;
    ox = 0;
  }
}

template <int MR, int K, bool kTail>
inline void tile(int64_t g, int64_t q, int64_t len, const int32_t* indptr,
                 const int32_t* offsets, const float* values, const float* x, const float* bias,
                 float* y, int64_t ldy, int64_t wq, int64_t wout, __m256 vmin, __m256 vmax) {
  __m256i mask[K];
  if (kTail)
    for (int k = 0; k < K; ++k) mask[k] = tail_mask(len - 8 * k);
  __m256 acc[MR][K];
  for (int r = 0; r < MR; ++r) {
    const __m256 b = _mm256_set1_ps(bias ? bias[g * MR + r] : 0.0f);
    for (int k = 0; k < K; ++k) acc[r][k] = b;
  }
  const float* xq = x + q;
  for (int32_t p = indptr[g], pe = indptr[g + 1]; p < pe; ++p) {
    const float* xp = xq + offsets[p];
    const float* w = values + int64_t{p} * MR;
    __m256 xv[K];
    for (int k = 0; k < K; ++k)
      xv[k] = kTail ? _mm256_maskload_ps(xp + 8 * k, mask[k]) : _mm256_loadu_ps(xp + 8 * k);
    for (int r = 0; r < MR; ++r) {
      const __m256 wb = _mm256_broadcast_ss(w + r);
      for (int k = 0; k < K; ++k) acc[r][k] = _mm256_fmadd_ps(wb, xv[k], acc[r][k]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* yr = y + (g * MR + r) * ldy;
    if (wq == wout) {
      for (int k = 0; k < K; ++k) {
        const __m256 v = clamp(acc[r][k], vmin, vmax);
        if (kTail)
          _mm256_maskstore_ps(yr + q + 8 * k, mask[k], v);
        else
          _mm256_storeu_ps(yr + q + 8 * k, v);
      }
    } else {
      alignas(32) float t[8 * K];
      for (int k = 0; k < K; ++k) _mm256_store_ps(t + 8 * k, clamp(acc[r][k], vmin, vmax));
      scatter_rows(t, q, kTail ? len : 8 * K, yr, wq, wout);
    }
  }
}

template <int MR, int K>
void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  const __m256 vmin = _mm256_set1_ps(out_min), vmax = _mm256_set1_ps(out_max);
  constexpr int64_t kNr = 8 * K;
  for (int64_t g = 0; g < m / MR; ++g) {
    int64_t j = 0;
    for (; j + kNr <= n; j += kNr)
      tile<MR, K, false>(g, q0 + j, kNr, indptr, offsets, values, x, bias, y, ldy, wq, wout,
                         vmin, vmax);
    const int64_t rest = n - j;
    if (rest > 8 * (K / 2) && K > 1)
      tile<MR, K, true>(g, q0 + j, rest, indptr, offsets, values, x, bias, y, ldy, wq, wout,
                        vmin, vmax);
    else if (rest > 0)
      tile<MR, (K / 2 > 0 ? K / 2 : 1), true>(g, q0 + j, rest, indptr, offsets, values, x, bias,
                                             y, ldy, wq, wout, vmin, vmax);
  }
}

}  // namespace

void f32_spconv_1x32__avx2(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<1, 4>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_4x16__avx2(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<4, 2>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_8x8__avx2(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<8, 1>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}

}  // namespace sparse_rt::kernels::avx2
