// Scalar padrows: the contract of padrows.h, element by element.
#include <algorithm>

#include "kernels/padrows/padrows.h"

namespace sparse_rt::kernels::scalar {

void f32_padrows__reference(SPARSE_RT_F32_PADROWS_PARAMS) {
  (void)lo;
  (void)hi;
  for (int64_t r = 0; r < rows; ++r) {
    float* d = dst + r * ldd;
    std::fill(d, d + j0, 0.0f);
    const float* s = src + r * lds;
    for (int64_t j = j0; j < j1; ++j) d[j] = s[(j - j0) * sw];
    std::fill(d + j1, d + wq, 0.0f);
  }
}

}  // namespace sparse_rt::kernels::scalar
