// Scalar oracle for the dwconv family: the plainest loop over the contract.
#include <algorithm>

#include "kernels/dwconv/dwconv.h"

namespace sparse_rt::kernels::scalar {

void f32_dwconv3x3__reference(SPARSE_RT_F32_DWCONV_PARAMS) {
  (void)overread;  // the reference reads only inside the plane
  const int64_t ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
  for (int64_t oy = 0; oy < ho; ++oy)
    for (int64_t ox = 0; ox < wo; ++ox) {
      float acc = bias;
      for (int64_t ky = 0; ky < 3; ++ky)
        for (int64_t kx = 0; kx < 3; ++kx) {
          const int64_t r = stride * oy + ky - 1, c = stride * ox + kx - 1;
          if (r >= 0 && r < h && c >= 0 && c < w) acc += k[ky * 3 + kx] * x[r * w + c];
        }
      const int64_t o = oy * wo + ox;
      if (res) acc += res[o];
      y[o] = std::min(std::max(acc, out_min), out_max);  // NaN stays NaN (first argument)
    }
}

}  // namespace sparse_rt::kernels::scalar
