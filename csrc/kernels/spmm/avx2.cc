// AVX2 + FMA csrmm: one row of W at a time against a tile of 8*NV columns of x; each non-zero is
// broadcast and FMA'd into the tile; when x is narrow the values/indices streams are
// prefetched kStreamAhead non-zeros ahead, when it is wide the rows of x kPrefetch non-zeros
// ahead. Narrow tiles keep U independent partial sums per vector (non-zeros taken round-robin)
// to hide the FMA latency; left-over columns go 8 at a time, the last one through a masked
// load/store.
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

constexpr int32_t kPrefetch = 16;  // non-zeros ahead whose rows of x are prefetched
// Rows of x are prefetched only when x is wide (ldx floats per row): x then has 256 B or more per
// row and, at K = 4096, no longer fits the 1 MB L2 of a Zen 4 core (N = 64: -10 %), whereas
// for a narrower x (N = 16: 64 B rows, 256 KB) the prefetch costs more than it saves (+25 % at
// s = 0.9; measured in benchmarks/bench_fc.py --per-nnz).
constexpr int64_t kPrefetchMinLdx = 64;
// Non-zeros ahead whose values and indices are prefetched, one line of each per 16 non-zeros:
// without it a DRAM-resident W (4096² at s = 0.5, 64 MB) ran 1.4x slower per non-zero than an
// L3-resident one at N = 16. Tuned over 64..2048. Only with narrow x: with x-row prefetches
// (4 x vectors per non-zero at N = 64) it cost 5-9 % at s >= 0.9 and gained nothing at 0.5.
constexpr int32_t kStreamAhead = 256;

template <int NV, int U, bool kMask, bool kPfX, typename Idx>
inline void row_tile(int32_t p0, int32_t p1, int32_t p_end, const Idx* indices, const float* values,
                     const float* x, int64_t ldx, __m256 vb, float* y, __m256 vmin, __m256 vmax,
                     __m256i mask) {
  __m256 acc[U][NV];
  for (int v = 0; v < NV; ++v) {
    acc[0][v] = vb;
    for (int u = 1; u < U; ++u) acc[u][v] = _mm256_setzero_ps();
  }
  int32_t p = p0;
  for (; p + U <= p1; p += U) {
    if (!kPfX && ((p + kStreamAhead) & 15) < U) {  // once per 16 non-zeros
      _mm_prefetch(reinterpret_cast<const char*>(values + p + kStreamAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(indices + p + kStreamAhead), _MM_HINT_T0);
    }
    for (int u = 0; u < U; ++u) {
      if (kPfX && p + u + kPrefetch < p_end) {
        const char* pf = reinterpret_cast<const char*>(x + int64_t{indices[p + u + kPrefetch]} * ldx);
        for (int v = 0; v < NV; v += 2) _mm_prefetch(pf + 32 * v, _MM_HINT_T0);
      }
      const __m256 w = _mm256_broadcast_ss(values + p + u);
      const float* xr = x + int64_t{indices[p + u]} * ldx;
      for (int v = 0; v < NV; ++v) {
        const __m256 xv = (kMask && v == NV - 1) ? _mm256_maskload_ps(xr + 8 * v, mask)
                                                 : _mm256_loadu_ps(xr + 8 * v);
        acc[u][v] = _mm256_fmadd_ps(w, xv, acc[u][v]);
      }
    }
  }
  for (; p < p1; ++p) {
    const __m256 w = _mm256_broadcast_ss(values + p);
    const float* xr = x + int64_t{indices[p]} * ldx;
    for (int v = 0; v < NV; ++v) {
      const __m256 xv = (kMask && v == NV - 1) ? _mm256_maskload_ps(xr + 8 * v, mask)
                                               : _mm256_loadu_ps(xr + 8 * v);
      acc[0][v] = _mm256_fmadd_ps(w, xv, acc[0][v]);
    }
  }
  for (int v = 0; v < NV; ++v) {
    __m256 s = acc[0][v];
    for (int u = 1; u < U; ++u) s = _mm256_add_ps(s, acc[u][v]);
    s = clamp(s, vmin, vmax);
    if (kMask && v == NV - 1)
      _mm256_maskstore_ps(y + 8 * v, mask, s);
    else
      _mm256_storeu_ps(y + 8 * v, s);
  }
}

template <int NV, int U, bool kPfX, typename Idx>
void csrmm_tiles(int64_t m, int64_t n, const int32_t* indptr, const Idx* indices,
                 const float* values, const float* x, int64_t ldx, const float* bias, float* y,
                 int64_t ldy, float out_min, float out_max) {
  const __m256 vmin = _mm256_set1_ps(out_min), vmax = _mm256_set1_ps(out_max);
  const __m256i none = _mm256_setzero_si256();
  const int32_t p_end = indptr[m];
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p0 = indptr[i], p1 = indptr[i + 1];
    const __m256 vb = _mm256_set1_ps(bias ? bias[i] : 0.0f);
    float* yi = y + i * ldy;
    int64_t j = 0;
    for (; j + 8 * NV <= n; j += 8 * NV)
      row_tile<NV, U, false, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax, none);
    for (; j + 8 <= n; j += 8)
      row_tile<1, 4, false, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax, none);
    if (j < n)
      row_tile<1, 4, true, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax,
                           tail_mask(n - j));
  }
}

template <int NV, int U>
void csrmm(SPARSE_RT_F32_CSRMM_PARAMS) {
  with_index_width(indices, index_bits, [&](auto idx) {
    if (ldx >= kPrefetchMinLdx)
      csrmm_tiles<NV, U, true>(m, n, indptr, idx, values, x, ldx, bias, y, ldy, out_min, out_max);
    else
      csrmm_tiles<NV, U, false>(m, n, indptr, idx, values, x, ldx, bias, y, ldy, out_min, out_max);
  });
}

}  // namespace

void f32_csrmm_1x8__avx2(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<1, 4>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}
void f32_csrmm_1x16__avx2(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<2, 2>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}
void f32_csrmm_1x32__avx2(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<4, 1>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}

}  // namespace sparse_rt::kernels::avx2
