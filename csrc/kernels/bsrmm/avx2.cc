// AVX2 + FMA bsrmm. Batched (n > 1): per block row, a tile of RS rows x 8*NV columns of y lives
// in registers; for every block, each of its C rows of x is loaded once and FMA'd with the
// block's RS broadcast weights. Narrow tiles of few rows keep SC partial sums (one per block
// column) to hide the FMA latency; 16-row blocks go in two passes of 8 rows (16 ymm registers).
// Batch 1 (bsrmv): weights are loaded as full vectors against x broadcast into the matching
// lanes, lane groups summed once per block row.
#include <immintrin.h>

#include "kernels/bsrmm/bsrmm.h"

namespace sparse_rt::kernels::avx2 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m256 clamp(__m256 v, __m256 lo, __m256 hi) {
  return _mm256_min_ps(hi, _mm256_max_ps(lo, v));
}
inline __m128 clamp4(__m128 v, float lo, float hi) {
  return _mm_min_ps(_mm_set1_ps(hi), _mm_max_ps(_mm_set1_ps(lo), v));
}

__m256i tail_mask(int64_t count) {  // lanes [0, count) set, 0 < count < 8
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

constexpr int32_t kPrefetch = 8;  // blocks ahead whose rows of x are prefetched

template <int R, int C, int RS, int NV, int SC, bool kMask>
inline void block_row_tile(int32_t p0, int32_t p1, int32_t p_end, bool prefetch, const int32_t* indices, const float* values,
                           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy,
                           __m256 vmin, __m256 vmax, __m256i mask) {
  for (int r0 = 0; r0 < R; r0 += RS) {
    __m256 acc[SC][RS][NV];
    #pragma GCC unroll 16
    for (int rr = 0; rr < RS; ++rr)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        acc[0][rr][v] = _mm256_set1_ps(bias ? bias[r0 + rr] : 0.0f);
        #pragma GCC unroll 16
        for (int s = 1; s < SC; ++s) acc[s][rr][v] = _mm256_setzero_ps();
      }
    for (int32_t p = p0; p < p1; ++p) {
      if (prefetch && r0 == 0 && p + kPrefetch < p_end) {
        const float* pf = x + int64_t{indices[p + kPrefetch]} * C * ldx;
        #pragma GCC unroll 16
        for (int cc = 0; cc < C; ++cc)
          #pragma GCC unroll 16
          for (int v = 0; v < NV; v += 2)
            _mm_prefetch(reinterpret_cast<const char*>(pf + cc * ldx + 8 * v), _MM_HINT_T0);
      }
      const float* xb = x + int64_t{indices[p]} * C * ldx;
      const float* w = values + int64_t{p} * (R * C) + r0 * C;
      #pragma GCC unroll 16
      for (int cc = 0; cc < C; ++cc) {
        __m256 xv[NV];
        #pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          xv[v] = (kMask && v == NV - 1) ? _mm256_maskload_ps(xb + cc * ldx + 8 * v, mask)
                                         : _mm256_loadu_ps(xb + cc * ldx + 8 * v);
        #pragma GCC unroll 16
        for (int rr = 0; rr < RS; ++rr) {
          const __m256 wb = _mm256_broadcast_ss(w + rr * C + cc);
          #pragma GCC unroll 16
          for (int v = 0; v < NV; ++v)
            acc[cc % SC][rr][v] = _mm256_fmadd_ps(wb, xv[v], acc[cc % SC][rr][v]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int rr = 0; rr < RS; ++rr)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        __m256 s = acc[0][rr][v];
        #pragma GCC unroll 16
        for (int q = 1; q < SC; ++q) s = _mm256_add_ps(s, acc[q][rr][v]);
        s = clamp(s, vmin, vmax);
        float* out = y + (r0 + rr) * ldy + 8 * v;
        if (kMask && v == NV - 1)
          _mm256_maskstore_ps(out, mask, s);
        else
          _mm256_storeu_ps(out, s);
      }
  }
}

template <int R, int C, int RS, int NV, int SC>
void bsrmm(SPARSE_RT_F32_BSRMM_PARAMS) {
  constexpr int kSC1 = RS < 4 ? C : 1;
  const __m256 vmin = _mm256_set1_ps(out_min), vmax = _mm256_set1_ps(out_max);
  const __m256i none = _mm256_setzero_si256();
  const int32_t p_end = indptr[mb];
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p0 = indptr[ib], p1 = indptr[ib + 1];
    const float* b = bias ? bias + ib * R : nullptr;
    float* yb = y + ib * R * ldy;
    int64_t j = 0;
    for (; j + 8 * NV <= n; j += 8 * NV)
      block_row_tile<R, C, RS, NV, SC, false>(p0, p1, p_end, n == 8 * NV, indices, values, x + j, ldx, b, yb + j, ldy,
                                              vmin, vmax, none);
    for (; j + 8 <= n; j += 8)
      block_row_tile<R, C, RS, 1, kSC1, false>(p0, p1, p_end, n == 8, indices, values, x + j, ldx, b, yb + j,
                                               ldy, vmin, vmax, none);
    if (j < n)
      block_row_tile<R, C, RS, 1, kSC1, true>(p0, p1, p_end, n < 8, indices, values, x + j, ldx, b, yb + j, ldy,
                                              vmin, vmax, tail_mask(n - j));
  }
}

// Batch 1, blocks of R x 1: R = 4 puts two blocks in one vector (x broadcast per 128-bit half);
// R = 8 is one vector per block; R = 16 two vectors per block.
template <int R>
void bsrmv_col(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p1 = indptr[ib + 1];
    int32_t p = indptr[ib];
    const float* b = bias ? bias + ib * R : nullptr;
    float* yb = y + ib * R;
    if constexpr (R == 4) {
      __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
      __m128 a2 = _mm_setzero_ps();
      auto xv = [&](int32_t q) {
        return _mm256_set_m128(_mm_set1_ps(x[indices[q + 1]]), _mm_set1_ps(x[indices[q]]));
      };
      for (; p + 4 <= p1; p += 4) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p} * 4), xv(p), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p + 2} * 4), xv(p + 2), a1);
      }
      for (; p < p1; ++p)
        a2 = _mm_fmadd_ps(_mm_loadu_ps(values + int64_t{p} * 4), _mm_set1_ps(x[indices[p]]), a2);
      const __m256 s = _mm256_add_ps(a0, a1);
      __m128 v = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)), a2);
      if (b) v = _mm_add_ps(v, _mm_loadu_ps(b));
      _mm_storeu_ps(yb, clamp4(v, out_min, out_max));
    } else {
      constexpr int V = R / 8;
      __m256 a[2][V];
      #pragma GCC unroll 16
      for (int u = 0; u < 2; ++u)
        #pragma GCC unroll 16
        for (int v = 0; v < V; ++v) a[u][v] = _mm256_setzero_ps();
      for (; p + 2 <= p1; p += 2)
        #pragma GCC unroll 16
        for (int u = 0; u < 2; ++u) {
          const __m256 xb = _mm256_set1_ps(x[indices[p + u]]);
          #pragma GCC unroll 16
          for (int v = 0; v < V; ++v)
            a[u][v] = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p + u} * R + 8 * v), xb, a[u][v]);
        }
      if (p < p1) {
        const __m256 xb = _mm256_set1_ps(x[indices[p]]);
        #pragma GCC unroll 16
        for (int v = 0; v < V; ++v)
          a[0][v] = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p} * R + 8 * v), xb, a[0][v]);
      }
      const __m256 lo = _mm256_set1_ps(out_min), hi = _mm256_set1_ps(out_max);
      #pragma GCC unroll 16
      for (int v = 0; v < V; ++v) {
        __m256 s = _mm256_add_ps(a[0][v], a[1][v]);
        if (b) s = _mm256_add_ps(s, _mm256_loadu_ps(b + 8 * v));
        _mm256_storeu_ps(yb + 8 * v, clamp(s, lo, hi));
      }
    }
  }
}

// Batch 1, 4 x 4 blocks: rows 0-1 and rows 2-3 of a block (8 weights each) against x[4c..4c+4)
// repeated in both halves; each 128-bit half sums to one row.
void bsrmv_4x4(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p1 = indptr[ib + 1];
    int32_t p = indptr[ib];
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; p + 2 <= p1; p += 2) {
      const __m256 x0 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(x + int64_t{indices[p]} * 4));
      const __m256 x1 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(x + int64_t{indices[p + 1]} * 4));
      const float* w = values + int64_t{p} * 16;
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w), x0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), x0, a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 16), x1, a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 24), x1, a3);
    }
    if (p < p1) {
      const __m256 x0 = _mm256_broadcast_ps(reinterpret_cast<const __m128*>(x + int64_t{indices[p]} * 4));
      const float* w = values + int64_t{p} * 16;
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w), x0, a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w + 8), x0, a1);
    }
    const __m256 r01 = _mm256_add_ps(a0, a2), r23 = _mm256_add_ps(a1, a3);
    __m128 v = _mm_hadd_ps(
        _mm_hadd_ps(_mm256_castps256_ps128(r01), _mm256_extractf128_ps(r01, 1)),
        _mm_hadd_ps(_mm256_castps256_ps128(r23), _mm256_extractf128_ps(r23, 1)));
    if (bias) v = _mm_add_ps(v, _mm_loadu_ps(bias + ib * 4));
    _mm_storeu_ps(y + ib * 4, clamp4(v, out_min, out_max));
  }
}

// Batch 1, 1 x 4 blocks: two consecutive blocks fill one vector of weights against two 4-float
// slices of x; one horizontal sum per row.
void bsrmv_1x4(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  auto xq = [&](int32_t q) { return _mm_loadu_ps(x + int64_t{indices[q]} * 4); };
  for (int64_t i = 0; i < mb; ++i) {
    const int32_t p1 = indptr[i + 1];
    int32_t p = indptr[i];
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m128 a2 = _mm_setzero_ps();
    for (; p + 4 <= p1; p += 4) {
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p} * 4), _mm256_set_m128(xq(p + 1), xq(p)), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(values + int64_t{p + 2} * 4), _mm256_set_m128(xq(p + 3), xq(p + 2)), a1);
    }
    for (; p < p1; ++p) a2 = _mm_fmadd_ps(_mm_loadu_ps(values + int64_t{p} * 4), xq(p), a2);
    const __m256 s = _mm256_add_ps(a0, a1);
    __m128 t = _mm_add_ps(_mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1)), a2);
    t = _mm_hadd_ps(t, t);
    t = _mm_hadd_ps(t, t);
    const __m128 v = _mm_add_ss(t, _mm_set_ss(bias ? bias[i] : 0.0f));
    y[i] = _mm_cvtss_f32(_mm_min_ss(_mm_set_ss(out_max), _mm_max_ss(_mm_set_ss(out_min), v)));
  }
}

}  // namespace

#define SPARSE_RT_BSRMM_ARGS mb, n, indptr, indices, values, x, ldx, bias, y, ldy, out_min, out_max
void f32_bsrmv1x4_1x1__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_1x4(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv4x1_4x1__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_col<4>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv4x4_4x1__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_4x4(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv8x1_8x1__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_col<8>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv16x1_16x1__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_col<16>(SPARSE_RT_BSRMM_ARGS); }
// <R, C, rows per pass, vectors per row, partial sums>
void f32_bsrmm1x4_1x8__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<1, 4, 1, 1, 4>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm1x4_1x32__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<1, 4, 1, 4, 2>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x1_4x8__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 1, 4, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x1_4x16__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 1, 4, 2, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x4_4x8__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 4, 4, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x4_4x16__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 4, 4, 2, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm8x1_8x8__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<8, 1, 8, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm16x1_8x8__avx2(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<16, 1, 8, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
#undef SPARSE_RT_BSRMM_ARGS

}  // namespace sparse_rt::kernels::avx2
