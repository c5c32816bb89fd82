// AVX-512 spconv: a row group of MR output channels x K zmm (16 pixels each) of accumulators.
// Per stored entry (one input channel tap): K input vectors are loaded once at x + off + q and
// FMA'd with MR broadcast weights, so each loaded vector serves MR output channels. The pixel
// tail runs the same tile with masked loads (never over-reads).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/spconv/spconv.h"

namespace sparse_rt::kernels::avx512 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

inline __mmask16 tail_mask(int64_t len) {
  return len >= 16 ? static_cast<__mmask16>(0xFFFF)
                   : len <= 0 ? static_cast<__mmask16>(0)
                              : static_cast<__mmask16>((1u << len) - 1u);
}

// Copies the extended-grid pixels [q, q + len) of `t` to the output plane, skipping the
// garbage columns [wout, wq) of each extended row.
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
                 float* y, int64_t ldy, int64_t wq, int64_t wout, __m512 vmin, __m512 vmax) {
  __mmask16 mask[K];
  for (int k = 0; k < K; ++k) mask[k] = tail_mask(len - 16 * k);
  __m512 acc[MR][K];
  for (int r = 0; r < MR; ++r) {
    const __m512 b = _mm512_set1_ps(bias ? bias[g * MR + r] : 0.0f);
    for (int k = 0; k < K; ++k) acc[r][k] = b;
  }
  const float* xq = x + q;
  for (int32_t p = indptr[g], pe = indptr[g + 1]; p < pe; ++p) {
    const float* xp = xq + offsets[p];
    const float* w = values + int64_t{p} * MR;
    __m512 xv[K];
    for (int k = 0; k < K; ++k)
      xv[k] = kTail ? _mm512_maskz_loadu_ps(mask[k], xp + 16 * k) : _mm512_loadu_ps(xp + 16 * k);
    for (int r = 0; r < MR; ++r) {
      const __m512 wb = _mm512_set1_ps(w[r]);
      for (int k = 0; k < K; ++k) acc[r][k] = _mm512_fmadd_ps(wb, xv[k], acc[r][k]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* yr = y + (g * MR + r) * ldy;
    if (wq == wout) {
      for (int k = 0; k < K; ++k) {
        const __m512 v = clamp(acc[r][k], vmin, vmax);
        if (kTail)
          _mm512_mask_storeu_ps(yr + q + 16 * k, mask[k], v);
        else
          _mm512_storeu_ps(yr + q + 16 * k, v);
      }
    } else {
      alignas(64) float t[16 * K];
      for (int k = 0; k < K; ++k) _mm512_store_ps(t + 16 * k, clamp(acc[r][k], vmin, vmax));
      scatter_rows(t, q, kTail ? len : 16 * K, yr, wq, wout);
    }
  }
}

template <int MR, int K>
void spconv(SPARSE_RT_F32_SPCONV_PARAMS) {
  const __m512 vmin = _mm512_set1_ps(out_min), vmax = _mm512_set1_ps(out_max);
  constexpr int64_t kNr = 16 * K;
  for (int64_t g = 0; g < m / MR; ++g) {
    int64_t j = 0;
    for (; j + kNr <= n; j += kNr)
      tile<MR, K, false>(g, q0 + j, kNr, indptr, offsets, values, x, bias, y, ldy, wq, wout,
                         vmin, vmax);
    const int64_t rest = n - j;
    if (rest > 16 * (K / 2) && K > 1)
      tile<MR, K, true>(g, q0 + j, rest, indptr, offsets, values, x, bias, y, ldy, wq, wout,
                        vmin, vmax);
    else if (rest > 0)
      tile<MR, (K / 2 > 0 ? K / 2 : 1), true>(g, q0 + j, rest, indptr, offsets, values, x, bias,
                                             y, ldy, wq, wout, vmin, vmax);
  }
}

}  // namespace

void f32_spconv_1x64__avx512(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<1, 4>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_4x64__avx512(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<4, 4>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}
void f32_spconv_8x32__avx512(SPARSE_RT_F32_SPCONV_PARAMS) {
  spconv<8, 2>(m, q0, n, indptr, offsets, values, x, bias, y, ldy, wq, wout, out_min, out_max);
}

}  // namespace sparse_rt::kernels::avx512
