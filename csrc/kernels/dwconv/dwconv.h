// Kernel family: f32 depthwise 3x3 convolution, stride 1 or 2, zero padding 1, over one channel
// plane of an NCHW tensor, with a fused bias + residual + clamp epilogue ("dwconv"). The
// generic spconv kernels serve depthwise layers as 9-entry row groups, but they reuse a loaded
// input vector across output channels, and a depthwise channel has only one: here each input
// row is loaded once, its left and right neighbours come from lane shifts in registers, and it
// feeds the three output rows it touches (docs/architecture-conv.md, "Depthwise 3x3").
//
// Contract (every kernel in kernels.inc), s = stride (1 or 2), ho = (h - 1) / s + 1,
// wo = (w - 1) / s + 1:
//   for oy in [0, ho), ox in [0, wo), with X(r, c) = x[r * w + c] inside the plane, 0 outside:
//     acc = bias + sum_{ky, kx in 0..2} k[ky * 3 + kx] * X(s * oy + ky - 1, s * ox + kx - 1)
//     y[oy * wo + ox] = min(max(acc + (res ? res[oy * wo + ox] : 0), out_min), out_max)
//   - h, w >= 1; x is h * w contiguous floats, y and res ho * wo; k holds 9 floats (3x3).
//   - Reads x only inside the plane, unless `overread` is nonzero: then also up to 15 floats
//     past x[h * w - 1] (the op passes it when that much of the tensor follows). Never
//     over-reads res.
//   - res may be null, or y itself (in place: each element is read just before y is written
//     there); otherwise it must not overlap y. x must not overlap y.
//   - out_min/out_max encode the activation; max(lo, .) then min(hi, .) with the accumulator
//     second, so NaN propagates (as in spconv).
//   - Single-threaded; ops/ runs planes in parallel.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_DWCONV_PARAMS                                                   \
  int64_t h, int64_t w, int stride, const float *x, const float *k, float bias,          \
      const float *res, float *y, float out_min, float out_max, int overread

using F32DwconvFn = void (*)(SPARSE_RT_F32_DWCONV_PARAMS);

#define SPARSE_RT_DWCONV_KERNEL(name, isa) \
  namespace isa {                          \
  void name(SPARSE_RT_F32_DWCONV_PARAMS);  \
  }
#include "kernels/dwconv/kernels.inc"
#undef SPARSE_RT_DWCONV_KERNEL

}  // namespace sparse_rt::kernels
