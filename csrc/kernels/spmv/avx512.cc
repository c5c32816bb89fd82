// AVX-512 csrmv: per row, 16 non-zeros per step (indices widened to 32 bits, x gathered),
// four independent accumulators for rows with at least 64 non-zeros, a masked tail, one
// horizontal sum per row.
#include <immintrin.h>

#include <type_traits>

#include "kernels/spmv/spmv.h"

namespace sparse_rt::kernels::avx512 {
namespace {

template <typename Index>
inline __m512i load_index(const Index* p) {
  if constexpr (std::is_same_v<Index, uint16_t>)
    return _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
  else
    return _mm512_loadu_si512(p);
}

template <typename Index>
inline __m512i load_index_masked(const Index* p, __mmask16 mask) {
  if constexpr (std::is_same_v<Index, uint16_t>)
    return _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(mask, p));
  else
    return _mm512_maskz_loadu_epi32(mask, p);
}

template <typename Index>
void csrmv(SPARSE_RT_F32_CSRMV_PARAMS) {
  const Index* idx = static_cast<const Index*>(indices);
  const __m128 vmin = _mm_set_ss(out_min), vmax = _mm_set_ss(out_max);
  for (int64_t i = 0; i < m; ++i) {
    const int32_t p1 = indptr[i + 1];
    int32_t p = indptr[i];
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (; p + 64 <= p1; p += 64) {
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + p),
                           _mm512_i32gather_ps(load_index(idx + p), x, 4), a0);
      a1 = _mm512_fmadd_ps(_mm512_loadu_ps(values + p + 16),
                           _mm512_i32gather_ps(load_index(idx + p + 16), x, 4), a1);
      a2 = _mm512_fmadd_ps(_mm512_loadu_ps(values + p + 32),
                           _mm512_i32gather_ps(load_index(idx + p + 32), x, 4), a2);
      a3 = _mm512_fmadd_ps(_mm512_loadu_ps(values + p + 48),
                           _mm512_i32gather_ps(load_index(idx + p + 48), x, 4), a3);
    }
    for (; p + 16 <= p1; p += 16)
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(values + p),
                           _mm512_i32gather_ps(load_index(idx + p), x, 4), a0);
    if (p < p1) {
      const __mmask16 mask = static_cast<__mmask16>((1u << (p1 - p)) - 1u);
      const __m512 xv = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), mask,
                                                 load_index_masked(idx + p, mask), x, 4);
      a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, values + p), xv, a1);
    }
    const float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
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
