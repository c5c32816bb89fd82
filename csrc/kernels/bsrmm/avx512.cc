// AVX-512 bsrmm. Batched (n > 1): per block row, a tile of RS rows x 16*NV columns of y lives in
// registers; for every block, each of its C rows of x is loaded once and FMA'd with the block's
// RS broadcast weights, so an x vector is reused RS times. Narrow tiles of few rows keep SC
// partial sums (one per block column) to hide the FMA latency. Batch 1 (bsrmv): weights are
// loaded as full vectors (several blocks per vector when the block is small) against x values
// broadcast into the matching lanes, then lane groups are summed once per block row.
#include <immintrin.h>

#include "kernels/bsrmm/bsrmm.h"

namespace sparse_rt::kernels::avx512 {
namespace {

// max/min with the accumulator second: NaN propagates instead of being clamped away.
inline __m512 clamp(__m512 v, __m512 lo, __m512 hi) {
  return _mm512_min_ps(hi, _mm512_max_ps(lo, v));
}
inline __m128 clamp4(__m128 v, float lo, float hi) {
  return _mm_min_ps(_mm_set1_ps(hi), _mm_max_ps(_mm_set1_ps(lo), v));
}
inline __m256 clamp8(__m256 v, float lo, float hi) {
  return _mm256_min_ps(_mm256_set1_ps(hi), _mm256_max_ps(_mm256_set1_ps(lo), v));
}

constexpr int32_t kPrefetch = 8;  // blocks ahead whose rows of x are prefetched

template <int R, int C, int RS, int NV, int SC, bool kMask>
inline void block_row_tile(int32_t p0, int32_t p1, int32_t p_end, bool prefetch, const int32_t* indices, const float* values,
                           const float* x, int64_t ldx, const float* bias, float* y, int64_t ldy,
                           __m512 vmin, __m512 vmax, __mmask16 mask) {
  for (int r0 = 0; r0 < R; r0 += RS) {
    __m512 acc[SC][RS][NV];
    #pragma GCC unroll 16
    for (int rr = 0; rr < RS; ++rr)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        acc[0][rr][v] = _mm512_set1_ps(bias ? bias[r0 + rr] : 0.0f);
        #pragma GCC unroll 16
        for (int s = 1; s < SC; ++s) acc[s][rr][v] = _mm512_setzero_ps();
      }
    for (int32_t p = p0; p < p1; ++p) {
      if (prefetch && r0 == 0 && p + kPrefetch < p_end) {
        const float* pf = x + int64_t{indices[p + kPrefetch]} * C * ldx;
        #pragma GCC unroll 16
        for (int cc = 0; cc < C; ++cc)
          #pragma GCC unroll 16
          for (int v = 0; v < NV; v += 1)
            _mm_prefetch(reinterpret_cast<const char*>(pf + cc * ldx + 16 * v), _MM_HINT_T0);
      }
      const float* xb = x + int64_t{indices[p]} * C * ldx;
      const float* w = values + int64_t{p} * (R * C) + r0 * C;
      #pragma GCC unroll 16
      for (int cc = 0; cc < C; ++cc) {
        __m512 xv[NV];
        #pragma GCC unroll 16
        for (int v = 0; v < NV; ++v)
          xv[v] = (kMask && v == NV - 1) ? _mm512_maskz_loadu_ps(mask, xb + cc * ldx + 16 * v)
                                         : _mm512_loadu_ps(xb + cc * ldx + 16 * v);
        #pragma GCC unroll 16
        for (int rr = 0; rr < RS; ++rr) {
          const __m512 wb = _mm512_set1_ps(w[rr * C + cc]);
          #pragma GCC unroll 16
          for (int v = 0; v < NV; ++v)
            acc[cc % SC][rr][v] = _mm512_fmadd_ps(wb, xv[v], acc[cc % SC][rr][v]);
        }
      }
    }
    #pragma GCC unroll 16
    for (int rr = 0; rr < RS; ++rr)
      #pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) {
        __m512 s = acc[0][rr][v];
        #pragma GCC unroll 16
        for (int q = 1; q < SC; ++q) s = _mm512_add_ps(s, acc[q][rr][v]);
        s = clamp(s, vmin, vmax);
        float* out = y + (r0 + rr) * ldy + 16 * v;
        if (kMask && v == NV - 1)
          _mm512_mask_storeu_ps(out, mask, s);
        else
          _mm512_storeu_ps(out, s);
      }
  }
}

template <int R, int C, int RS, int NV, int SC>
void bsrmm(SPARSE_RT_F32_BSRMM_PARAMS) {
  constexpr int kSC1 = RS < 4 ? C : 1;  // partial sums for the 16-column remainder tiles
  const __m512 vmin = _mm512_set1_ps(out_min), vmax = _mm512_set1_ps(out_max);
  const int32_t p_end = indptr[mb];
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p0 = indptr[ib], p1 = indptr[ib + 1];
    const float* b = bias ? bias + ib * R : nullptr;
    float* yb = y + ib * R * ldy;
    int64_t j = 0;
    for (; j + 16 * NV <= n; j += 16 * NV)
      block_row_tile<R, C, RS, NV, SC, false>(p0, p1, p_end, n == 16 * NV, indices, values, x + j, ldx, b, yb + j, ldy,
                                              vmin, vmax, 0);
    for (; j + 16 <= n; j += 16)
      block_row_tile<R, C, RS, 1, kSC1, false>(p0, p1, p_end, n == 16, indices, values, x + j, ldx, b, yb + j,
                                               ldy, vmin, vmax, 0);
    if (j < n)
      block_row_tile<R, C, RS, 1, kSC1, true>(p0, p1, p_end, n < 16, indices, values, x + j, ldx, b, yb + j, ldy,
                                              vmin, vmax,
                                              static_cast<__mmask16>((1u << (n - j)) - 1u));
  }
}

// Batch 1, blocks of R x 1 (R = 4, 8, 16): G = 16 / R consecutive blocks fill one vector of
// weights; x[col of block g] is broadcast into lane group g. Two accumulators alternate.
template <int R>
void bsrmv_col(SPARSE_RT_F32_BSRMM_PARAMS) {
  constexpr int G = 16 / R;
  (void)n; (void)ldx; (void)ldy;
  const __m512i spread = _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p1 = indptr[ib + 1];
    int32_t p = indptr[ib];
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    auto xvec = [&](int32_t q) -> __m512 {
      if constexpr (G == 1) {
        return _mm512_set1_ps(x[indices[q]]);
      } else if constexpr (G == 2) {
        return _mm512_insertf32x8(_mm512_set1_ps(x[indices[q]]), _mm256_set1_ps(x[indices[q + 1]]), 1);
      } else {
        const __m128 xs = _mm_setr_ps(x[indices[q]], x[indices[q + 1]], x[indices[q + 2]], x[indices[q + 3]]);
        return _mm512_permutexvar_ps(spread, _mm512_castps128_ps512(xs));
      }
    };
    for (; p + 2 * G <= p1; p += 2 * G) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p} * R), xvec(p), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p + G} * R), xvec(p + G), a1);
    }
    for (; p + G <= p1; p += G)
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p} * R), xvec(p), a0);
    constexpr __mmask16 kOne = static_cast<__mmask16>((1u << R) - 1u);
    for (; p < p1; ++p)  // fewer than G blocks left: one at a time in lane group 0
      a1 = _mm512_mask3_fmadd_ps(_mm512_maskz_loadu_ps(kOne, values + int64_t{p} * R),
                                 _mm512_set1_ps(x[indices[p]]), a1, kOne);
    const __m512 s = _mm512_add_ps(a0, a1);
    float* yb = y + ib * R;
    const float* b = bias ? bias + ib * R : nullptr;
    if constexpr (G == 1) {
      __m512 v = b ? _mm512_add_ps(s, _mm512_loadu_ps(b)) : s;
      _mm512_storeu_ps(yb, clamp(v, _mm512_set1_ps(out_min), _mm512_set1_ps(out_max)));
    } else if constexpr (G == 2) {
      __m256 v = _mm256_add_ps(_mm512_castps512_ps256(s), _mm512_extractf32x8_ps(s, 1));
      if (b) v = _mm256_add_ps(v, _mm256_loadu_ps(b));
      _mm256_storeu_ps(yb, clamp8(v, out_min, out_max));
    } else {
      __m128 v = _mm_add_ps(_mm_add_ps(_mm512_castps512_ps128(s), _mm512_extractf32x4_ps(s, 1)),
                            _mm_add_ps(_mm512_extractf32x4_ps(s, 2), _mm512_extractf32x4_ps(s, 3)));
      if (b) v = _mm_add_ps(v, _mm_loadu_ps(b));
      _mm_storeu_ps(yb, clamp4(v, out_min, out_max));
    }
  }
}

// Batch 1, 4 x 1 blocks: two blocks per 256-bit vector, x broadcast per 128-bit half (measured
// faster here than four blocks per 512-bit vector, whose x vector needs a cross-lane permute).
void bsrmv_4x1(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p1 = indptr[ib + 1];
    int32_t p = indptr[ib];
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
    if (bias) v = _mm_add_ps(v, _mm_loadu_ps(bias + ib * 4));
    _mm_storeu_ps(y + ib * 4, clamp4(v, out_min, out_max));
  }
}

// Batch 1, 4 x 4 blocks: the block's 16 weights (row-major) against x[4c..4c+4) repeated in
// every lane group; lane group r sums to row r.
void bsrmv_4x4(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  for (int64_t ib = 0; ib < mb; ++ib) {
    const int32_t p1 = indptr[ib + 1];
    int32_t p = indptr[ib];
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    for (; p + 2 <= p1; p += 2) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p} * 16),
                           _mm512_broadcast_f32x4(_mm_loadu_ps(x + int64_t{indices[p]} * 4)), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p + 1} * 16),
                           _mm512_broadcast_f32x4(_mm_loadu_ps(x + int64_t{indices[p + 1]} * 4)), a1);
    }
    if (p < p1)
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p} * 16),
                           _mm512_broadcast_f32x4(_mm_loadu_ps(x + int64_t{indices[p]} * 4)), a0);
    const __m512 s = _mm512_add_ps(a0, a1);
    const __m128 r01 = _mm_hadd_ps(_mm512_castps512_ps128(s), _mm512_extractf32x4_ps(s, 1));
    const __m128 r23 = _mm_hadd_ps(_mm512_extractf32x4_ps(s, 2), _mm512_extractf32x4_ps(s, 3));
    __m128 v = _mm_hadd_ps(r01, r23);
    if (bias) v = _mm_add_ps(v, _mm_loadu_ps(bias + ib * 4));
    _mm_storeu_ps(y + ib * 4, clamp4(v, out_min, out_max));
  }
}

// Batch 1, 1 x 4 blocks: four consecutive blocks fill one vector of weights against four
// 4-float slices of x; one horizontal sum per row.
void bsrmv_1x4(SPARSE_RT_F32_BSRMM_PARAMS) {
  (void)n; (void)ldx; (void)ldy;
  auto xq = [&](int32_t q) { return _mm_loadu_ps(x + int64_t{indices[q]} * 4); };
  for (int64_t i = 0; i < mb; ++i) {
    const int32_t p1 = indptr[i + 1];
    int32_t p = indptr[i];
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m128 a2 = _mm_setzero_ps();
    for (; p + 8 <= p1; p += 8) {
      __m512 x0 = _mm512_insertf32x4(_mm512_castps128_ps512(xq(p)), xq(p + 1), 1);
      x0 = _mm512_insertf32x4(_mm512_insertf32x4(x0, xq(p + 2), 2), xq(p + 3), 3);
      __m512 x1 = _mm512_insertf32x4(_mm512_castps128_ps512(xq(p + 4)), xq(p + 5), 1);
      x1 = _mm512_insertf32x4(_mm512_insertf32x4(x1, xq(p + 6), 2), xq(p + 7), 3);
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p} * 4), x0, a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(values + int64_t{p + 4} * 4), x1, a1);
    }
    for (; p < p1; ++p) a2 = _mm_fmadd_ps(_mm_loadu_ps(values + int64_t{p} * 4), xq(p), a2);
    const __m512 a01 = _mm512_add_ps(a0, a1);
    __m128 t = _mm_add_ps(_mm_add_ps(_mm512_castps512_ps128(a01), _mm512_extractf32x4_ps(a01, 1)),
                          _mm_add_ps(_mm512_extractf32x4_ps(a01, 2), _mm512_extractf32x4_ps(a01, 3)));
    t = _mm_add_ps(t, a2);
    t = _mm_hadd_ps(t, t);
    t = _mm_hadd_ps(t, t);
    __m128 v = _mm_add_ss(t, _mm_set_ss(bias ? bias[i] : 0.0f));
    y[i] = _mm_cvtss_f32(_mm_min_ss(_mm_set_ss(out_max), _mm_max_ss(_mm_set_ss(out_min), v)));
  }
}

}  // namespace

#define SPARSE_RT_BSRMM_ARGS mb, n, indptr, indices, values, x, ldx, bias, y, ldy, out_min, out_max
void f32_bsrmv1x4_1x1__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_1x4(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv4x1_4x1__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_4x1(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv4x4_4x1__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_4x4(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv8x1_8x1__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_col<8>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmv16x1_16x1__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmv_col<16>(SPARSE_RT_BSRMM_ARGS); }
// <R, C, rows per pass, vectors per row, partial sums>
void f32_bsrmm1x4_1x16__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<1, 4, 1, 1, 4>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm1x4_1x64__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<1, 4, 1, 4, 2>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x1_4x16__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 1, 4, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x1_4x64__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 1, 4, 4, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x4_4x16__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 4, 4, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm4x4_4x64__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<4, 4, 4, 4, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm8x1_8x16__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<8, 1, 8, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm8x1_8x32__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<8, 1, 8, 2, 1>(SPARSE_RT_BSRMM_ARGS); }
void f32_bsrmm16x1_16x16__avx512(SPARSE_RT_F32_BSRMM_PARAMS) { bsrmm<16, 1, 16, 1, 1>(SPARSE_RT_BSRMM_ARGS); }
#undef SPARSE_RT_BSRMM_ARGS

}  // namespace sparse_rt::kernels::avx512
