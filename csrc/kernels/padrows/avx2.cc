// AVX2 padrows: as the AVX-512 kernel (avx512.cc) with 8-column vectors, from unaligned loads
// (a 32-byte load crosses a cache line half as often as a 64-byte one): one load (stride 1)
// or two, vshufps and vpermpd (stride 2) per vector, the columns outside [j0, j1) zeroed by an
// AND with a lane mask in the first and last kept vectors only. Rows narrower than a vector,
// rows whose loads would leave [lo, hi), and strides above 2 go element by element.
#include <immintrin.h>

#include <algorithm>

#include "kernels/padrows/padrows.h"

namespace sparse_rt::kernels::avx2 {
namespace {

// Columns k .. k+7 of a row whose column 0 sits (virtually) at lo + at.
template <int kStride>
inline __m256 load_cols(const float* lo, int64_t at, int64_t k) {
  if (kStride == 1) return _mm256_loadu_ps(lo + (at + k));
  const __m256 a = _mm256_loadu_ps(lo + (at + 2 * k)), b = _mm256_loadu_ps(lo + (at + 2 * k + 8));
  // [a0 a2 b0 b2 | a4 a6 b4 b6] -> [a0 a2 a4 a6 b0 b2 b4 b6]
  return _mm256_castpd_ps(
      _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
}

// All-ones lanes l with a <= l < b (clamped first, so the 32-bit compares cannot overflow).
inline __m256 lanes_in(int64_t a, int64_t b) {
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const int first = static_cast<int>(std::clamp<int64_t>(a, -1, 8));
  const int end = static_cast<int>(std::clamp<int64_t>(b, -1, 8));
  const __m256i ge_a = _mm256_cmpgt_epi32(lane, _mm256_set1_epi32(first - 1));
  const __m256i lt_b = _mm256_cmpgt_epi32(_mm256_set1_epi32(end), lane);
  return _mm256_castsi256_ps(_mm256_and_si256(ge_a, lt_b));
}

struct RowPlan {
  int64_t wq, kf, kl;     // vectors before kf and after kl are zero; kf, kl masked
  __m256 keep_f, keep_l;  // kept lanes of vectors kf and kl
};

// Vector k of a row: whole vectors inside wq are stored as one; the last partial one lane by lane.
inline void store_cols(float* d, const RowPlan& p, int64_t k, __m256 v) {
  if (k + 8 <= p.wq) {
    _mm256_storeu_ps(d + k, v);
  } else {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    for (int64_t l = 0; k + l < p.wq; ++l) d[k + l] = t[l];
  }
}

template <int kStride>
inline void row(float* d, const float* lo, int64_t at, const RowPlan& p) {
  for (int64_t k = 0; k < p.kf; k += 8) store_cols(d, p, k, _mm256_setzero_ps());
  store_cols(d, p, p.kf, _mm256_and_ps(p.keep_f, load_cols<kStride>(lo, at, p.kf)));
  int64_t k = p.kf + 8;
  for (; k < p.kl; k += 8) _mm256_storeu_ps(d + k, load_cols<kStride>(lo, at, k));
  if (p.kl > p.kf)
    store_cols(d, p, p.kl, _mm256_and_ps(p.keep_l, load_cols<kStride>(lo, at, p.kl)));
  for (k = p.kl + 8; k < p.wq; k += 8) store_cols(d, p, k, _mm256_setzero_ps());
}

// Element by element, one pass over the row (compiled for this ISA, the compiler vectorises it
// with lane masks: 3x3/2 512@7^2 0.200 ms, 0.214 through the baseline-ISA reference kernel).
inline void row_scalar(float* d, const float* s_j0, int64_t wq, int64_t j0, int64_t j1,
                       int64_t sw) {
  for (int64_t j = 0; j < wq; ++j) d[j] = j >= j0 && j < j1 ? s_j0[(j - j0) * sw] : 0.0f;
}

}  // namespace

void f32_padrows__avx2(SPARSE_RT_F32_PADROWS_PARAMS) {
  if (sw == 1 && j0 == 0 && j1 == wq && lds == wq && ldd == wq) {  // one memcpy
    scalar::f32_padrows__reference(rows, wq, j0, j1, sw, src, lds, dst, ldd, lo, hi);
    return;
  }
  if (j1 - j0 < 8 || (sw != 1 && sw != 2)) {
    for (int64_t r = 0; r < rows; ++r) row_scalar(dst + r * ldd, src + r * lds, wq, j0, j1, sw);
    return;
  }
  RowPlan p;
  p.wq = wq;
  p.kf = j0 / 8 * 8;
  p.kl = (j1 - 1) / 8 * 8;
  p.keep_f = lanes_in(j0 - p.kf, j1 - p.kf);
  p.keep_l = lanes_in(j0 - p.kl, j1 - p.kl);
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * ldd;
    const float* s_j0 = src + r * lds;
    // Source index (relative to lo) of column 0; the loads read [at + kf*sw, at + (kl+8)*sw).
    const int64_t at = (s_j0 - lo) - j0 * sw;
    if (at + p.kf * sw < 0 || at + (p.kl + 8) * sw > hi - lo)
      row_scalar(d, s_j0, wq, j0, j1, sw);
    else if (sw == 1)
      row<1>(d, lo, at, p);
    else
      row<2>(d, lo, at, p);
  }
}

}  // namespace sparse_rt::kernels::avx2
