// Kernel family: f32 depthwise 3x3 convolution, stride 1, zero padding 1, over one channel
// plane of an NCHW tensor, with a fused bias + residual + clamp epilogue ("dwconv"). The
// generic spconv kernels serve depthwise layers as 9-entry row groups, but they reuse a loaded
// input vector across output channels, and a depthwise channel has only one: here each input
// row is loaded once, its left and right neighbours come from lane shifts in registers, and it
// feeds the three output rows it touches (docs/architecture-conv.md, "Depthwise 3x3").
//
// Contract (every kernel in kernels.inc):
//   for oy in [0, h), ox in [0, w), with X(r, c) = x[r * w + c] inside the plane, 0 outside:
//     acc = bias + sum_{ky, kx in 0..2} k[ky * 3 + kx] * X(oy + ky - 1, ox + kx - 1)
//     y[oy * w + ox] = min(max(acc + (res ? res[oy * w + ox] : 0), out_min), out_max)
//   - h, w >= 1; x, y, res are h * w contiguous floats; k holds 9 floats (row-major 3x3).
//   - Reads x only inside the plane, unless `overread` is nonzero: then also up to 15 floats
//     past x[h * w - 1] (the op passes it when the next plane follows). Never over-reads res.
//   - res may be null, or y itself (in place: each element is read just before y is written
//     there); otherwise it must not overlap y. x must not overlap y.
//   - out_min/out_max encode the activation; max(lo, .) then min(hi, .) with the accumulator
//     second, so NaN propagates (as in spconv).
//   - Single-threaded; ops/ runs planes in parallel.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

#define SPARSE_RT_F32_DWCONV_PARAMS                                                   \
  int64_t h, int64_t w, const float *x, const float *k, float bias, const float *res, \
      float *y, float out_min, float out_max, int overread

using F32DwconvFn = void (*)(SPARSE_RT_F32_DWCONV_PARAMS);

#define SPARSE_RT_DWCONV_KERNEL(name, isa) \
  namespace isa {                          \
  void name(SPARSE_RT_F32_DWCONV_PARAMS);  \
  }
#include "kernels/dwconv/kernels.inc"
#undef SPARSE_RT_DWCONV_KERNEL

}  // namespace sparse_rt::kernels
