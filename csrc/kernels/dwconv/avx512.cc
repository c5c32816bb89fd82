// AVX-512 dwconv, stride 1: the plane in column strips of 16 pixels, two strips at a time, rows
// top to bottom. Each input row is loaded once per strip (plus one vector each side of the
// pair); its left and right neighbours are lane shifts (valignd) of adjacent strips, so no load
// crosses a row edge and the zero padding is the zero shifted in. An input row feeds three
// output rows (ky = 2, 1, 0), kept as three rolling accumulator sets; the oldest is complete
// after each row. Stride 2: see stride2().
#include <immintrin.h>

#include <algorithm>

#include "kernels/dwconv/dwconv.h"

namespace sparse_rt::kernels::avx512 {
namespace {

inline __mmask16 lanes_below(int64_t len) {
  return len >= 16 ? static_cast<__mmask16>(0xFFFF)
                   : len <= 0 ? static_cast<__mmask16>(0)
                              : static_cast<__mmask16>((1u << len) - 1u);
}

// lane l of the result: lane l - 1 of cur (lane 15 of prev for l = 0)
inline __m512 from_left(__m512 prev, __m512 cur) {
  return _mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
}
// lane l of the result: lane l + 1 of cur (lane 0 of next for l = 15)
inline __m512 from_right(__m512 cur, __m512 next) {
  return _mm512_castsi512_ps(
      _mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur), 1));
}

struct Plane {
  int64_t h, w, nv;   // nv: strips of 16 columns
  const float* x;
  __mmask16 tail;     // live lanes of the last strip
  int64_t readable;   // floats of x that may be read: h * w, + 15 with `overread`
};

// 16 floats at x + at with lanes from `live` on zeroed. An unmasked load (reading into the next
// row, or past the plane when allowed) where it stays readable: masked loads are slow on some
// CPUs (Zen 4).
inline __m512 load_live(const Plane& p, int64_t at, __mmask16 live) {
  if (at + 16 <= p.readable) return _mm512_maskz_mov_ps(live, _mm512_loadu_ps(p.x + at));
  return _mm512_maskz_loadu_ps(live, p.x + at);
}

// Strip v of input row r: lanes past the row's end are zero.
inline __m512 load_strip(const Plane& p, int64_t r, int64_t v) {
  if (v < 0 || v >= p.nv) return _mm512_setzero_ps();
  if (v + 1 < p.nv) return _mm512_loadu_ps(p.x + r * p.w + 16 * v);
  return load_live(p, r * p.w + 16 * v, p.tail);
}

template <int S>  // strips per pass (1 or 2)
void strips(const Plane& p, int64_t v0, const float* k, float bias, const float* res, float* y,
            __m512 lo, __m512 hi) {
  __m512 kk[9];
  for (int i = 0; i < 9; ++i) kk[i] = _mm512_set1_ps(k[i]);
  const __m512 b = _mm512_set1_ps(bias);
  __m512 up[S], mid[S], down[S];  // output rows r - 1, r, r + 1 while input row r is read
  for (int j = 0; j < S; ++j) up[j] = mid[j] = _mm512_setzero_ps();
  auto finish = [&](int64_t oy, __m512* acc) {  // output row oy is complete
    for (int j = 0; j < S; ++j) {
      const int64_t v = v0 + j, o = oy * p.w + 16 * v;
      const __mmask16 m = v + 1 < p.nv ? static_cast<__mmask16>(0xFFFF) : p.tail;
      __m512 out = _mm512_add_ps(acc[j], b);
      if (res) out = _mm512_add_ps(out, _mm512_maskz_loadu_ps(m, res + o));
      out = _mm512_min_ps(hi, _mm512_max_ps(lo, out));
      _mm512_mask_storeu_ps(y + o, m, out);
    }
  };
  for (int64_t r = 0; r < p.h; ++r) {
    __m512 c[S + 2];
    for (int j = 0; j < S + 2; ++j) c[j] = load_strip(p, r, v0 + j - 1);
    for (int j = 0; j < S; ++j) {
      const __m512 cc = c[j + 1];
      const __m512 cl = from_left(c[j], cc), cr = from_right(cc, c[j + 2]);
      up[j] = _mm512_fmadd_ps(kk[6], cl, up[j]);
      up[j] = _mm512_fmadd_ps(kk[7], cc, up[j]);
      up[j] = _mm512_fmadd_ps(kk[8], cr, up[j]);
      mid[j] = _mm512_fmadd_ps(kk[3], cl, mid[j]);
      mid[j] = _mm512_fmadd_ps(kk[4], cc, mid[j]);
      mid[j] = _mm512_fmadd_ps(kk[5], cr, mid[j]);
      down[j] = _mm512_mul_ps(kk[0], cl);
      down[j] = _mm512_fmadd_ps(kk[1], cc, down[j]);
      down[j] = _mm512_fmadd_ps(kk[2], cr, down[j]);
    }
    if (r > 0) finish(r - 1, up);
    for (int j = 0; j < S; ++j) {
      up[j] = mid[j];
      mid[j] = down[j];
    }
  }
  finish(p.h - 1, up);
}

// Stride 2: 16 output columns ox = 16v.. read input columns 32v - 1 .. 32v + 31: two vectors
// split into even (2ox, kx = 1) and odd (2ox + 1, kx = 2) columns, the odd ones moved one lane
// right (2ox - 1, kx = 0) with column 32v - 1 shifted in. Each output row reads its three input
// rows afresh (simple; the middle one is not shared with a neighbour).
inline __m512 load_cols(const Plane& p, int64_t r, int64_t c0) {  // x[r][c0 .. c0 + 15], 0 past w
  if (c0 >= p.w) return _mm512_setzero_ps();
  if (c0 + 16 <= p.w) return _mm512_loadu_ps(p.x + r * p.w + c0);
  return load_live(p, r * p.w + c0, lanes_below(p.w - c0));
}

void stride2(const Plane& p, const float* k, float bias, const float* res, float* y, __m512 lo,
             __m512 hi) {
  const int64_t ho = (p.h - 1) / 2 + 1, wo = (p.w - 1) / 2 + 1;
  __m512 kk[9];
  for (int i = 0; i < 9; ++i) kk[i] = _mm512_set1_ps(k[i]);
  const __m512 b = _mm512_set1_ps(bias);
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  for (int64_t v = 0; v * 16 < wo; ++v) {
    const __mmask16 m = lanes_below(wo - 16 * v);
    for (int64_t oy = 0; oy < ho; ++oy) {
      __m512 acc = b;
      for (int ky = 0; ky < 3; ++ky) {
        const int64_t r = 2 * oy + ky - 1;
        if (r < 0 || r >= p.h) continue;
        const __m512 lo16 = load_cols(p, r, 32 * v), hi16 = load_cols(p, r, 32 * v + 16);
        const __m512 before = v > 0 ? _mm512_loadu_ps(p.x + r * p.w + 32 * v - 16)
                                    : _mm512_setzero_ps();  // its lane 15: column 32v - 1
        const __m512 ce = _mm512_permutex2var_ps(lo16, even, hi16);
        const __m512 co = _mm512_permutex2var_ps(lo16, odd, hi16);
        const __m512 cl = from_left(before, co);
        acc = _mm512_fmadd_ps(kk[ky * 3 + 0], cl, acc);
        acc = _mm512_fmadd_ps(kk[ky * 3 + 1], ce, acc);
        acc = _mm512_fmadd_ps(kk[ky * 3 + 2], co, acc);
      }
      const int64_t o = oy * wo + 16 * v;
      if (res) acc = _mm512_add_ps(acc, _mm512_maskz_loadu_ps(m, res + o));
      _mm512_mask_storeu_ps(y + o, m, _mm512_min_ps(hi, _mm512_max_ps(lo, acc)));
    }
  }
}

}  // namespace

void f32_dwconv3x3__avx512(SPARSE_RT_F32_DWCONV_PARAMS) {
  const int64_t nv = (w + 15) / 16;
  const Plane p{h, w, nv, x, lanes_below(w - 16 * (nv - 1)), h * w + (overread ? 15 : 0)};
  const __m512 lo = _mm512_set1_ps(out_min), hi = _mm512_set1_ps(out_max);
  if (stride == 2) return stride2(p, k, bias, res, y, lo, hi);
  int64_t v = 0;
  for (; v + 2 <= nv; v += 2) strips<2>(p, v, k, bias, res, y, lo, hi);
  if (v < nv) strips<1>(p, v, k, bias, res, y, lo, hi);
}

}  // namespace sparse_rt::kernels::avx512
