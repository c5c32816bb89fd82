// Scalar padrows: zero fills around one memcpy for long stride-1 rows, one pass over the row
// otherwise; one memcpy for the whole run when rows are contiguous and fully kept (1x1 convs
// over small planes).
// The SIMD kernels hand it rows narrower than their vectors and rows near the span's ends.
#include <algorithm>
#include <cstring>

#include "kernels/padrows/padrows.h"

namespace sparse_rt::kernels::scalar {

void f32_padrows__reference(SPARSE_RT_F32_PADROWS_PARAMS) {
  (void)lo;
  (void)hi;
  const int64_t kept = j1 - j0;
  if (sw == 1 && j0 == 0 && j1 == wq && lds == wq && ldd == wq) {
    std::memcpy(dst, src, static_cast<size_t>(rows * wq) * sizeof(float));
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * ldd;
    const float* s = src + r * lds;
    if (sw == 1 && kept >= 32) {
      std::fill(d, d + j0, 0.0f);
      std::memcpy(d + j0, s, static_cast<size_t>(kept) * sizeof(float));
      std::fill(d + j1, d + wq, 0.0f);
    } else {  // short rows: one pass over the row beat fill + copy + fill (3x3/2 512@7^2: -9%)
      for (int64_t j = 0; j < wq; ++j) d[j] = j >= j0 && j < j1 ? s[(j - j0) * sw] : 0.0f;
    }
  }
}

}  // namespace sparse_rt::kernels::scalar
