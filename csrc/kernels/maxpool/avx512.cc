// AVX-512 max pooling: the separable scheme (separable.h) with 16-lane vectors and masked tails.
// Stride 2 (ResNet's 3x3/2): a window tap's 16 columns are the even or odd lanes of two loads
// (vpermt2ps). NaN: vmaxps returns its second operand when either is NaN, so a NaN in the
// first is put back by a mask. Other strides and dilated stride 2 run the compiled loop.
#include <immintrin.h>

#include "kernels/maxpool/separable.h"

namespace sparse_rt::kernels::avx512 {
namespace {

inline __m512 nan_max16(__m512 a, __m512 b) {
  return _mm512_mask_mov_ps(_mm512_max_ps(a, b), _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q), a);
}

inline __mmask16 first_lanes(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << n) - 1u);
}

// Columns j, j + 2, ..., j + 30 of p (parity of j: even or odd lanes of p[j & ~1 ...]).
inline __m512 every_other(const float* p, int64_t j) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i idx = _mm512_add_epi32(even, _mm512_set1_epi32(static_cast<int>(j & 1)));
  const float* q = p + (j & ~int64_t{1});
  return _mm512_permutex2var_ps(_mm512_loadu_ps(q), idx, _mm512_loadu_ps(q + 16));
}

}  // namespace

void f32_maxpool__avx512(SPARSE_RT_F32_MAXPOOL_PARAMS) {
  if (g.sw > 2 || (g.sw == 2 && g.dw != 1)) {
    maxpool_separable(g, x, y, row);
    return;
  }
  const int64_t width = maxpool_row_floats(g);
  for (int64_t v = 0; v < width; v += 16)
    _mm512_mask_storeu_ps(row + v, first_lanes(width - v), _mm512_set1_ps(-INFINITY));
  float* r = row + g.pl;
  const float* base = row;  // column ox * sw + j * dw of the padded row
  for (int64_t oy = 0; oy < g.ho; ++oy) {
    int64_t taken = 0;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t u = oy * g.sh - g.pt + i * g.dh;
      if (u < 0 || u >= g.h) continue;
      const float* src = x + u * g.w;
      for (int64_t v = 0; v < g.w; v += 16) {
        const __mmask16 m = first_lanes(g.w - v);
        const __m512 s = _mm512_maskz_loadu_ps(m, src + v);
        _mm512_mask_storeu_ps(r + v, m, taken ? nan_max16(_mm512_maskz_loadu_ps(m, r + v), s) : s);
      }
      ++taken;
    }
    if (!taken)  // no valid row: all padding
      for (int64_t v = 0; v < g.w; v += 16)
        _mm512_mask_storeu_ps(r + v, first_lanes(g.w - v), _mm512_set1_ps(-INFINITY));
    float* out = y + oy * g.wo;
    for (int64_t ox = 0; ox < g.wo; ox += 16) {
      const __mmask16 m = first_lanes(g.wo - ox);
      __m512 acc;
      if (g.sw == 2) {
        const float* p = base + 2 * ox;
        acc = every_other(p, 0);
        for (int64_t j = 1; j < g.kw; ++j) acc = nan_max16(acc, every_other(p, j));
      } else {
        const float* p = base + ox;
        acc = _mm512_loadu_ps(p);
        for (int64_t j = 1; j < g.kw; ++j) acc = nan_max16(acc, _mm512_loadu_ps(p + j * g.dw));
      }
      _mm512_mask_storeu_ps(out + ox, m, acc);
    }
  }
}

}  // namespace sparse_rt::kernels::avx512
