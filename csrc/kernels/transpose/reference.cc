// Scalar transpose: the test oracle and the fallback without AVX2; 32 x 32 blocks keep both
// sides in cache.
#include <algorithm>

#include "kernels/transpose/transpose.h"

namespace sparse_rt::kernels::scalar {

void f32_transpose_1x1__reference(SPARSE_RT_F32_TRANSPOSE_PARAMS) {
  for (int64_t r0 = 0; r0 < rows; r0 += 32)
    for (int64_t c0 = 0; c0 < cols; c0 += 32) {
      const int64_t r1 = std::min(rows, r0 + 32), c1 = std::min(cols, c0 + 32);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * ldd + r] = src[r * lds + c];
    }
}

}  // namespace sparse_rt::kernels::scalar
