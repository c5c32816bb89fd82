// AVX2 transpose: 8 x 8 blocks through registers (unpack, shuffle, 128-bit lane permute);
// ragged edges element by element.
#include <immintrin.h>

#include "kernels/transpose/transpose.h"

namespace sparse_rt::kernels::avx2 {
namespace {

inline void block8x8(const float* src, int64_t lds, float* dst, int64_t ldd) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int h = 0; h < 2; ++h) {  // rows 0-3 (h = 0) and 4-7 (h = 1)
    const __m256 a = t[4 * h], b = t[4 * h + 1], c = t[4 * h + 2], d = t[4 * h + 3];
    u[4 * h + 0] = _mm256_shuffle_ps(a, c, 0x44);
    u[4 * h + 1] = _mm256_shuffle_ps(a, c, 0xEE);
    u[4 * h + 2] = _mm256_shuffle_ps(b, d, 0x44);
    u[4 * h + 3] = _mm256_shuffle_ps(b, d, 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(dst + i * ldd, _mm256_permute2f128_ps(u[i], u[4 + i], 0x20));
    _mm256_storeu_ps(dst + (4 + i) * ldd, _mm256_permute2f128_ps(u[i], u[4 + i], 0x31));
  }
}

}  // namespace

void f32_transpose_8x8__avx2(SPARSE_RT_F32_TRANSPOSE_PARAMS) {
  const int64_t r8 = rows / 8 * 8, c8 = cols / 8 * 8;
  for (int64_t r = 0; r < r8; r += 8) {
    for (int64_t c = 0; c < c8; c += 8) block8x8(src + r * lds + c, lds, dst + c * ldd + r, ldd);
    for (int64_t c = c8; c < cols; ++c)
      for (int64_t i = r; i < r + 8; ++i) dst[c * ldd + i] = src[i * lds + c];
  }
  for (int64_t r = r8; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

}  // namespace sparse_rt::kernels::avx2
