// AVX-512 build of the csrmv kernel: per row, 8 non-zeros per step with x gathered by scalar
// loads (measured faster than vgatherdps, 8 or 16 wide, on Zen 4), four independent
// accumulators for rows with at least 32 non-zeros, a scalar tail, one horizontal sum per row;
// the values and index streams are prefetched kStreamAhead non-zeros ahead. Same loop as the AVX2 build; compiled with AVX-512 enabled it may use the extra registers.
#include <immintrin.h>

#include <type_traits>

#include "kernels/spmv/spmv.h"

namespace sparse_rt::kernels::avx512 {
namespace {

inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// x[idx[0..8)] as one vector, built from scalar loads: on Zen 4 this beats vgatherdps (whose
// 16 element loads are issued slowly) by keeping the load ports busy with plain loads; indices
// are read 64 bits at a time and split with shifts.
template <typename Index>
inline __m256 gather8(const float* x, const Index* idx) {
  if constexpr (std::is_same_v<Index, uint16_t>) {
    uint64_t q0, q1;
    __builtin_memcpy(&q0, idx, 8);
    __builtin_memcpy(&q1, idx + 4, 8);
    const __m128 lo = _mm_setr_ps(x[q0 & 0xFFFF], x[(q0 >> 16) & 0xFFFF], x[(q0 >> 32) & 0xFFFF], x[q0 >> 48]);
    const __m128 hi = _mm_setr_ps(x[q1 & 0xFFFF], x[(q1 >> 16) & 0xFFFF], x[(q1 >> 32) & 0xFFFF], x[q1 >> 48]);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  } else {
    const __m128 lo = _mm_setr_ps(x[idx[0]], x[idx[1]], x[idx[2]], x[idx[3]]);
    const __m128 hi = _mm_setr_ps(x[idx[4]], x[idx[5]], x[idx[6]], x[idx[7]]);
    return _mm256_insertf128_ps(_mm256_castps128_ps256(lo), hi, 1);
  }
}

// Non-zeros ahead whose values and indices are prefetched (3 KB of values). The hardware
// prefetcher alone left a DRAM-resident matrix (4096² at s = 0.5: 50 MB) at ~14 GB/s on one
// Zen 4 core; with this, ~20 GB/s. Tuned over 64..4096: 768 best for s = 0.5 / 0.7, costing
// ~3 % on an L3-resident matrix (the extra load-port slots).
constexpr int32_t kStreamAhead = 768;

// The stream lines 32 non-zeros need, kStreamAhead non-zeros ahead of p (prefetches never
// fault, so running past the end of the stream is harmless).
template <typename Index>
inline void prefetch_stream(const float* values, const Index* idx, int32_t p) {
  _mm_prefetch(reinterpret_cast<const char*>(values + p + kStreamAhead), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(values + p + kStreamAhead + 16), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(idx + p + kStreamAhead), _MM_HINT_T0);
  if constexpr (sizeof(Index) == 4)
    _mm_prefetch(reinterpret_cast<const char*>(idx + p + kStreamAhead + 16), _MM_HINT_T0);
}

template <typename Index>
void csrmv(SPARSE_RT_F32_CSRMV_PARAMS) {
  const Index* idx = static_cast<const Index*>(indices);
  const __m128 vmin = _mm_set_ss(out_min), vmax = _mm_set_ss(out_max);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p1 = indptr[i + 1];
    int32_t p = indptr[i];
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (; p + 32 <= p1; p += 32) {
      prefetch_stream(values, idx, p);
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + p), gather8(x, idx + p), a0);
      a1 = _mm256_fmadd_ps(_mm256_loadu_ps(values + p + 8), gather8(x, idx + p + 8), a1);
      a2 = _mm256_fmadd_ps(_mm256_loadu_ps(values + p + 16), gather8(x, idx + p + 16), a2);
      a3 = _mm256_fmadd_ps(_mm256_loadu_ps(values + p + 24), gather8(x, idx + p + 24), a3);
    }
    for (; p + 8 <= p1; p += 8)
      a0 = _mm256_fmadd_ps(_mm256_loadu_ps(values + p), gather8(x, idx + p), a0);
    const __m256 t = _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3));
    float s = hsum(t);
    for (; p < p1; ++p) s += values[p] * x[idx[p]];
    const __m128 v = _mm_set_ss(s + (bias ? bias[i] : 0.0f));
    y[i] = _mm_cvtss_f32(_mm_min_ss(vmax, _mm_max_ss(vmin, v)));
  }
}

}  // namespace

void f32_csrmv_1x1__avx512(SPARSE_RT_F32_CSRMV_PARAMS) {
  csrmv<int32_t>(m, indptr, indices, values, x, bias, y, out_min, out_max);
}
void f32_csrmv16_1x1__avx512(SPARSE_RT_F32_CSRMV_PARAMS) {
  csrmv<uint16_t>(m, indptr, indices, values, x, bias, y, out_min, out_max);
}

}  // namespace sparse_rt::kernels::avx512
