// AVX-512 padrows. Stride 1: each 16-column output vector is lanes [sh, sh + 16) of two
// consecutive 64-byte aligned source vectors (one vpermt2ps), each source vector loaded once;
// stride 2: two unaligned loads and a vpermt2ps (even lanes) at the source of its first column.
// The columns outside [j0, j1) are zeroed in the register, only in the first and last vectors
// that keep any (a load may cross the row's edges, into the neighbouring rows of the same
// tensor). Masked loads, the obvious way to stay inside the row, cost Zen 4 about twice libc's
// memcpy + fills (33 vs 17 cycles per 56-float row). Unaligned loads instead of the aligned
// pairs were as fast with warm caches but 4% slower on 3x3 64@56^2 with a cold input. Rows
// narrower than a vector, rows whose loads would leave [lo, hi), and strides above 2 go element
// by element.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/padrows/padrows.h"

namespace sparse_rt::kernels::avx512 {
namespace {

// A plain load whose lanes the caller then masks: the empty asm keeps the compiler from
// folding load + mask into a masked load, the slow instruction this kernel avoids.
inline __m512 load_whole(const float* p) {
  __m512 v = _mm512_loadu_ps(p);
  asm("" : "+v"(v));
  return v;
}

inline __mmask16 lanes_in(int64_t a, int64_t b) {  // lanes l with a <= l < b, clipped to 0..16
  a = std::max<int64_t>(a, 0);
  b = std::min<int64_t>(b, 16);
  if (b <= a) return 0;
  return static_cast<__mmask16>(((1u << b) - 1u) & ~((1u << a) - 1u));
}

// Columns k .. k+15 of a row whose column 0 sits (virtually) at lo + at, stride 2: two loads
// and a lane permute.
inline __m512 load_cols2(const float* lo, int64_t at, int64_t k) {
  const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  return _mm512_permutex2var_ps(load_whole(lo + (at + 2 * k)), even,
                                load_whole(lo + (at + 2 * k + 16)));
}

// The vectors of a row: those before kf and after kl are zero, kf and kl (the first and last
// vectors with a kept column) masked, the ones between copied whole.
struct RowPlan {
  int64_t wq, kf, kl;
  __mmask16 keep_f, keep_l, tail;  // tail: the lanes of the last vector inside wq
};

inline void store_cols(float* d, const RowPlan& p, int64_t k, __m512 v) {
  if (k + 16 <= p.wq)
    _mm512_storeu_ps(d + k, v);
  else
    _mm512_mask_storeu_ps(d + k, p.tail, v);
}

// Stride 1 from 64-byte aligned loads: output vector k is lanes [sh, sh + 16) of two
// consecutive aligned source vectors (one vpermt2ps), each source vector loaded once. Reads
// [at + kf - sh, at + kl - sh + 32).
inline void row_aligned(float* d, const float* lo, int64_t at, const RowPlan& p) {
  const float* s = lo + (at + p.kf);
  const int sh = static_cast<int>(reinterpret_cast<uintptr_t>(s) / sizeof(float) % 16);
  const float* a = s - sh;
  const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(sh),
                                       _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                                         13, 14, 15));
  for (int64_t k = 0; k < p.kf; k += 16) store_cols(d, p, k, _mm512_setzero_ps());
  __m512 cur = _mm512_loadu_ps(a), next = _mm512_loadu_ps(a + 16);
  store_cols(d, p, p.kf, _mm512_maskz_mov_ps(p.keep_f, _mm512_permutex2var_ps(cur, idx, next)));
  int64_t k = p.kf + 16;
  for (; k < p.kl; k += 16) {  // whole vectors, all inside wq
    cur = next;
    next = _mm512_loadu_ps(a + (k - p.kf) + 16);
    _mm512_storeu_ps(d + k, _mm512_permutex2var_ps(cur, idx, next));
  }
  if (p.kl > p.kf) {
    cur = next;
    next = _mm512_loadu_ps(a + (p.kl - p.kf) + 16);
    store_cols(d, p, p.kl, _mm512_maskz_mov_ps(p.keep_l, _mm512_permutex2var_ps(cur, idx, next)));
  }
  for (k = p.kl + 16; k < p.wq; k += 16) store_cols(d, p, k, _mm512_setzero_ps());
}

inline void row_stride2(float* d, const float* lo, int64_t at, const RowPlan& p) {
  for (int64_t k = 0; k < p.kf; k += 16) store_cols(d, p, k, _mm512_setzero_ps());
  store_cols(d, p, p.kf, _mm512_maskz_mov_ps(p.keep_f, load_cols2(lo, at, p.kf)));
  int64_t k = p.kf + 16;
  for (; k < p.kl; k += 16) _mm512_storeu_ps(d + k, load_cols2(lo, at, k));  // inside wq
  if (p.kl > p.kf)
    store_cols(d, p, p.kl, _mm512_maskz_mov_ps(p.keep_l, load_cols2(lo, at, p.kl)));
  for (k = p.kl + 16; k < p.wq; k += 16) store_cols(d, p, k, _mm512_setzero_ps());
}

// Element by element, one pass over the row (compiled for this ISA, the compiler vectorises it
// with lane masks: 3x3/2 512@7^2 0.200 ms, 0.214 through the baseline-ISA reference kernel).
inline void row_scalar(float* d, const float* s_j0, int64_t wq, int64_t j0, int64_t j1,
                       int64_t sw) {
  for (int64_t j = 0; j < wq; ++j) d[j] = j >= j0 && j < j1 ? s_j0[(j - j0) * sw] : 0.0f;
}

}  // namespace

void f32_padrows__avx512(SPARSE_RT_F32_PADROWS_PARAMS) {
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
  p.kf = j0 / 16 * 16;
  p.kl = (j1 - 1) / 16 * 16;
  p.keep_f = lanes_in(j0 - p.kf, j1 - p.kf);
  p.keep_l = lanes_in(j0 - p.kl, j1 - p.kl);
  p.tail = lanes_in(0, wq - (wq - 1) / 16 * 16);
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * ldd;
    const float* s_j0 = src + r * lds;
    // Source index (relative to lo) of column 0. Stride 1 reads [at + kf - 15, at + kl + 32)
    // at most, stride 2 [at + 2 kf, at + 2 kl + 32): the test below covers both.
    const int64_t at = (s_j0 - lo) - j0 * sw;
    if (at + p.kf * sw < 16 || at + (p.kl + 32) * sw > hi - lo)
      row_scalar(d, s_j0, wq, j0, j1, sw);
    else if (sw == 1)
      row_aligned(d, lo, at, p);
    else
      row_stride2(d, lo, at, p);
  }
}

}  // namespace sparse_rt::kernels::avx512
