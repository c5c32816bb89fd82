// AVX-512 csrmm: one row of W at a time against a tile of 16*NV columns of x; each non-zero is
// broadcast and FMA'd into the tile. The values/indices streams are prefetched kStreamAhead
// non-zeros ahead; when x is wide, so are the rows of x named kPrefetch non-zeros ahead (x is
// then too large for L2 and its rows are visited in no useful order). Narrow tiles keep U
// independent partial sums per vector (non-zeros taken round-robin) so the FMA latency is
// hidden; columns left over after the wide tiles go 16 at a time, the last one masked.
#include <immintrin.h>

#include "kernels/spmm/spmm.h"

namespace sparse_rt::kernels::avx512 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}

constexpr int32_t kPrefetch = 16;  // non-zeros ahead whose rows of x are prefetched
// Rows of x are prefetched only when x is wide (ldx floats per row): x then has 256 B or more per
// row and, at K = 4096, no longer fits the 1 MB L2 of a Zen 4 core (N = 64: -10 %), whereas
// for a narrower x (N = 16: 64 B rows, 256 KB) the prefetch costs more than it saves (+25 % at
// s = 0.9; measured in benchmarks/bench_fc.py --per-nnz).
constexpr int64_t kPrefetchMinLdx = 64;
// Non-zeros ahead whose values and indices are prefetched, one line of each per 16 non-zeros:
// without it a DRAM-resident W (4096² at s = 0.5, 64 MB) ran 1.4x slower per non-zero than an
// L3-resident one at N = 16. Tuned over 64..2048.
constexpr int32_t kStreamAhead = 256;

template <int NV, int U, bool kMask, bool kPfX, typename Idx>
inline void row_tile(int32_t p0, int32_t p1, int32_t p_end, const Idx* indices, const float* values,
                     const float* x, int64_t ldx, __m512 vb, float* y, __m512 vmin, __m512 vmax,
                     __mmask16 mask) {
  __m512 acc[U][NV];
  for (int v = 0; v < NV; ++v) {
    acc[0][v] = vb;
    for (int u = 1; u < U; ++u) acc[u][v] = _mm512_setzero_ps();
  }
  int32_t p = p0;
  for (; p + U <= p1; p += U) {
    if (((p + kStreamAhead) & 15) < U) {  // once per 16 non-zeros
      _mm_prefetch(reinterpret_cast<const char*>(values + p + kStreamAhead), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(indices + p + kStreamAhead), _MM_HINT_T0);
    }
    for (int u = 0; u < U; ++u) {
      if (kPfX && p + u + kPrefetch < p_end) {
        const char* pf = reinterpret_cast<const char*>(x + int64_t{indices[p + u + kPrefetch]} * ldx);
        for (int v = 0; v < NV; ++v) _mm_prefetch(pf + 64 * v, _MM_HINT_T0);
      }
      const __m512 w = _mm512_set1_ps(values[p + u]);
      const float* xr = x + int64_t{indices[p + u]} * ldx;
      for (int v = 0; v < NV; ++v) {
        const __m512 xv = (kMask && v == NV - 1) ? _mm512_maskz_loadu_ps(mask, xr + 16 * v)
                                                 : _mm512_loadu_ps(xr + 16 * v);
        acc[u][v] = _mm512_fmadd_ps(w, xv, acc[u][v]);
      }
    }
  }
  for (; p < p1; ++p) {
    const __m512 w = _mm512_set1_ps(values[p]);
    const float* xr = x + int64_t{indices[p]} * ldx;
    for (int v = 0; v < NV; ++v) {
      const __m512 xv = (kMask && v == NV - 1) ? _mm512_maskz_loadu_ps(mask, xr + 16 * v)
                                               : _mm512_loadu_ps(xr + 16 * v);
      acc[0][v] = _mm512_fmadd_ps(w, xv, acc[0][v]);
    }
  }
  for (int v = 0; v < NV; ++v) {
    __m512 s = acc[0][v];
    for (int u = 1; u < U; ++u) s = _mm512_add_ps(s, acc[u][v]);
    s = clamp(s, vmin, vmax);
    if (kMask && v == NV - 1)
      _mm512_mask_storeu_ps(y + 16 * v, mask, s);
    else
      _mm512_storeu_ps(y + 16 * v, s);
  }
}

template <int NV, int U, bool kPfX, typename Idx>
void csrmm_tiles(int64_t m, int64_t n, const int32_t* indptr, const Idx* indices,
                 const float* values, const float* x, int64_t ldx, const float* bias, float* y,
                 int64_t ldy, float out_min, float out_max) {
  const __m512 vmin = _mm512_set1_ps(out_min), vmax = _mm512_set1_ps(out_max);
  const int32_t p_end = indptr[m];
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p0 = indptr[i], p1 = indptr[i + 1];
    const __m512 vb = _mm512_set1_ps(bias ? bias[i] : 0.0f);
    float* yi = y + i * ldy;
    int64_t j = 0;
    for (; j + 16 * NV <= n; j += 16 * NV)
      row_tile<NV, U, false, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax, 0);
    for (; j + 16 <= n; j += 16)
      row_tile<1, 4, false, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax, 0);
    if (j < n) {
      const __mmask16 mask = static_cast<__mmask16>((1u << (n - j)) - 1u);
      row_tile<1, 4, true, kPfX>(p0, p1, p_end, indices, values, x + j, ldx, vb, yi + j, vmin, vmax, mask);
    }
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

void f32_csrmm_1x16__avx512(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<1, 4>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}
void f32_csrmm_1x32__avx512(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<2, 2>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}
void f32_csrmm_1x64__avx512(SPARSE_RT_F32_CSRMM_PARAMS) {
  csrmm<4, 1>(m, n, indptr, indices, index_bits, values, x, ldx, bias, y, ldy, out_min, out_max);
}

}  // namespace sparse_rt::kernels::avx512
