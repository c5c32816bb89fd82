// AVX2 dwconv: the AVX-512 kernel's scheme (avx512.cc) with 8-lane strips, one strip per pass
// (16 registers). Lane shifts across a strip pair are a 128-bit lane swap plus palignr.
#include <immintrin.h>

#include "kernels/dwconv/dwconv.h"

namespace sparse_rt::kernels::avx2 {
namespace {

inline __m256i lanes_below(int64_t len) {  // all-ones in lanes [0, len)
  const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(len < 8 ? len : 8)), idx);
}

// lane l of the result: lane l - 1 of cur (lane 7 of prev for l = 0)
inline __m256 from_left(__m256 prev, __m256 cur) {
  const __m256i c = _mm256_castps_si256(cur);
  const __m256i t = _mm256_permute2x128_si256(_mm256_castps_si256(prev), c, 0x21);
  return _mm256_castsi256_ps(_mm256_alignr_epi8(c, t, 12));
}
// lane l of the result: lane l + 1 of cur (lane 0 of next for l = 7)
inline __m256 from_right(__m256 cur, __m256 next) {
  const __m256i c = _mm256_castps_si256(cur);
  const __m256i t = _mm256_permute2x128_si256(c, _mm256_castps_si256(next), 0x21);
  return _mm256_castsi256_ps(_mm256_alignr_epi8(t, c, 4));
}

struct Plane {
  int64_t h, w;
  const float* x;
  int64_t readable;  // floats of x that may be read: h * w, + 15 with `overread`
};

// 8 floats at x + at, lanes from `live` on zeroed; unmasked where that stays readable.
inline __m256 load_live(const Plane& p, int64_t at, int64_t live) {
  const __m256i m = lanes_below(live);
  if (at + 8 <= p.readable)
    return _mm256_and_ps(_mm256_castsi256_ps(m), _mm256_loadu_ps(p.x + at));
  return _mm256_maskload_ps(p.x + at, m);
}

inline __m256 load_cols(const Plane& p, int64_t r, int64_t c0) {  // x[r][c0 .. c0 + 7], 0 past w
  if (c0 < 0 || c0 >= p.w) return _mm256_setzero_ps();
  if (c0 + 8 <= p.w) return _mm256_loadu_ps(p.x + r * p.w + c0);
  return load_live(p, r * p.w + c0, p.w - c0);
}

inline void store_out(float* y, int64_t o, int64_t live, __m256 v) {
  if (live >= 8)
    _mm256_storeu_ps(y + o, v);
  else
    _mm256_maskstore_ps(y + o, lanes_below(live), v);
}

inline __m256 epilogue(__m256 acc, __m256 b, const float* res, int64_t o, int64_t live,
                       __m256 lo, __m256 hi) {
  __m256 out = _mm256_add_ps(acc, b);
  if (res)
    out = _mm256_add_ps(out, live >= 8 ? _mm256_loadu_ps(res + o)
                                       : _mm256_maskload_ps(res + o, lanes_below(live)));
  return _mm256_min_ps(hi, _mm256_max_ps(lo, out));
}

void stride1(const Plane& p, const float* k, float bias, const float* res, float* y, __m256 lo,
             __m256 hi) {
  const __m256 b = _mm256_set1_ps(bias);
  for (int64_t c0 = 0; c0 < p.w; c0 += 8) {
    const int64_t live = p.w - c0;
    __m256 up = _mm256_setzero_ps(), mid = _mm256_setzero_ps();
    for (int64_t r = 0; r < p.h; ++r) {
      const __m256 cp = load_cols(p, r, c0 - 8), cc = load_cols(p, r, c0),
                   cn = load_cols(p, r, c0 + 8);
      const __m256 cl = from_left(cp, cc), cr = from_right(cc, cn);
      up = _mm256_fmadd_ps(_mm256_set1_ps(k[6]), cl, up);
      up = _mm256_fmadd_ps(_mm256_set1_ps(k[7]), cc, up);
      up = _mm256_fmadd_ps(_mm256_set1_ps(k[8]), cr, up);
      mid = _mm256_fmadd_ps(_mm256_set1_ps(k[3]), cl, mid);
      mid = _mm256_fmadd_ps(_mm256_set1_ps(k[4]), cc, mid);
      mid = _mm256_fmadd_ps(_mm256_set1_ps(k[5]), cr, mid);
      __m256 down = _mm256_mul_ps(_mm256_set1_ps(k[0]), cl);
      down = _mm256_fmadd_ps(_mm256_set1_ps(k[1]), cc, down);
      down = _mm256_fmadd_ps(_mm256_set1_ps(k[2]), cr, down);
      if (r > 0) {
        const int64_t o = (r - 1) * p.w + c0;
        store_out(y, o, live, epilogue(up, b, res, o, live, lo, hi));
      }
      up = mid;
      mid = down;
    }
    const int64_t o = (p.h - 1) * p.w + c0;
    store_out(y, o, live, epilogue(up, b, res, o, live, lo, hi));
  }
}

// Stride 2: 8 output columns from 16 input columns, split into even (kx = 1) and odd (kx = 2)
// columns; the odd ones moved one lane right give kx = 0.
inline __m256 pick(__m256 a, __m256 b, int odd) {
  const __m256 s = odd ? _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))
                       : _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

void stride2(const Plane& p, const float* k, float bias, const float* res, float* y, __m256 lo,
             __m256 hi) {
  const int64_t ho = (p.h - 1) / 2 + 1, wo = (p.w - 1) / 2 + 1;
  const __m256 b = _mm256_set1_ps(bias);
  for (int64_t v = 0; v * 8 < wo; ++v) {
    const int64_t live = wo - 8 * v;
    for (int64_t oy = 0; oy < ho; ++oy) {
      __m256 acc = _mm256_setzero_ps();
      for (int ky = 0; ky < 3; ++ky) {
        const int64_t r = 2 * oy + ky - 1;
        if (r < 0 || r >= p.h) continue;
        const __m256 a = load_cols(p, r, 16 * v), a2 = load_cols(p, r, 16 * v + 8);
        const __m256 before = load_cols(p, r, 16 * v - 8);  // its lane 7: column 16v - 1
        const __m256 ce = pick(a, a2, 0), co = pick(a, a2, 1);
        const __m256 cl = from_left(before, co);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(k[ky * 3 + 0]), cl, acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(k[ky * 3 + 1]), ce, acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(k[ky * 3 + 2]), co, acc);
      }
      const int64_t o = oy * wo + 8 * v;
      store_out(y, o, live, epilogue(acc, b, res, o, live, lo, hi));
    }
  }
}

}  // namespace

void f32_dwconv3x3__avx2(SPARSE_RT_F32_DWCONV_PARAMS) {
  const Plane p{h, w, x, h * w + (overread ? 15 : 0)};
  const __m256 lo = _mm256_set1_ps(out_min), hi = _mm256_set1_ps(out_max);
  if (stride == 2)
    stride2(p, k, bias, res, y, lo, hi);
  else
    stride1(p, k, bias, res, y, lo, hi);
}

}  // namespace sparse_rt::kernels::avx2
