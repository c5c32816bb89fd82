// The separable max-pool loop (maxpool.h), included by each ISA's file and compiled with its
// flags. In an unnamed namespace: every file keeps its own copy, so the linker can never hand
// one ISA's instructions to another's caller.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/maxpool/maxpool.h"

namespace sparse_rt::kernels {
namespace {

// max that keeps a NaN from either side (std::max drops a NaN in its second argument); written
// as a select so the loops vectorise.
inline float nan_max(float a, float b) { return (a != a || a > b) ? a : b; }

inline void maxpool_separable(const MaxPoolGeom& g, const float* x, float* y, float* buf) {
  const int64_t width = maxpool_row_floats(g);
  std::fill(buf, buf + width, -INFINITY);
  float* row = buf + g.pl;  // row[v] for v in [-pl, w + ...)
  for (int64_t oy = 0; oy < g.ho; ++oy) {
    bool first = true;
    for (int64_t i = 0; i < g.kh; ++i) {
      const int64_t u = oy * g.sh - g.pt + i * g.dh;
      if (u < 0 || u >= g.h) continue;
      const float* src = x + u * g.w;
      if (first) {
        std::copy(src, src + g.w, row);
        first = false;
      } else {
        for (int64_t v = 0; v < g.w; ++v) row[v] = nan_max(row[v], src[v]);
      }
    }
    if (first) std::fill(row, row + g.w, -INFINITY);  // no valid row: all padding
    float* out = y + oy * g.wo;
    const float* base = row - g.pl;
    if (g.sw == 2 && g.dw == 1) {  // ResNet's 3x3/2: constant stride, so the loads vectorise
      for (int64_t ox = 0; ox < g.wo; ++ox) out[ox] = base[2 * ox];
      for (int64_t j = 1; j < g.kw; ++j)
        for (int64_t ox = 0; ox < g.wo; ++ox) out[ox] = nan_max(out[ox], base[2 * ox + j]);
      continue;
    }
    for (int64_t ox = 0; ox < g.wo; ++ox) out[ox] = base[ox * g.sw];
    for (int64_t j = 1; j < g.kw; ++j) {
      const float* bj = base + j * g.dw;
      for (int64_t ox = 0; ox < g.wo; ++ox) out[ox] = nan_max(out[ox], bj[ox * g.sw]);
    }
  }
}

}  // namespace
}  // namespace sparse_rt::kernels
