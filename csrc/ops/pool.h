// 2-D pooling over NCHW float32 activations (docs/format.md §5.2). Plain OpenMP loops over
// the N*C planes. The caller computed Ho/Wo with the spec's window rule; padding never wins a
// max and avg uses torch's divisor rule.
#pragma once

#include <cstdint>

namespace sparse_rt::ops {

struct Pool2dParams {
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  bool count_include_pad = true;  // avg only
};

// x: (planes, H, W) -> y: (planes, Ho, Wo), planes = N * C.
void max_pool2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t ho,
                int64_t wo, const Pool2dParams& p, int threads);
void avg_pool2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t ho,
                int64_t wo, const Pool2dParams& p, int threads);
// x: (planes, hw) -> y: (planes), the mean of each plane.
void global_avg_pool(const float* x, float* y, int64_t planes, int64_t hw, int threads);

}  // namespace sparse_rt::ops
