// Kernel family: f32 2-D max pooling of one plane ("maxpool"), for ops/pool.cc, which runs the
// N*C planes in an OpenMP loop. One separable scheme (separable.h): per output row, the
// column-wise max over the window's valid input rows into a row buffer padded with -inf, then
// the max over each window's columns. The scalar and AVX2 kernels are that loop compiled for
// their ISA; the AVX-512 one writes stride 1 and 2 with intrinsics and masked tails (the
// compiler's version finished each row's last 8 outputs one by one). ResNet's 3x3/2 pool over
// 64@112^2, 1 thread: 0.32 ms in the baseline-ISA op before this family.
//
// Contract (every kernel in kernels.inc): y[oy][ox] = max over the window taps (i, j) with
// 0 <= oy*sh - pt + i*dh < h and 0 <= ox*sw - pl + j*dw < w of x[...]; a NaN in the window
// gives NaN; a window with no valid tap gives -inf.
//   - g.h, g.w, g.ho, g.wo, g.kh, g.kw, g.sh, g.sw, g.dh, g.dw >= 1; g.pt, g.pl >= 0.
//   - row: scratch of at least maxpool_row_floats(g) floats (any contents, overwritten).
//   - x is not written; y (ho*wo floats) does not overlap x or row. Single-threaded.
#pragma once

#include <cstdint>

namespace sparse_rt::kernels {

struct MaxPoolGeom {
  int64_t h, w, ho, wo, kh, kw, sh, sw, dh, dw, pt, pl;
};

// Row buffer floats: the left padding, the row, every column a window may reach past it, and
// 48 more that vector loads past the last window may read.
inline int64_t maxpool_row_floats(const MaxPoolGeom& g) {
  return g.pl + g.w + (g.kw - 1) * g.dw + g.wo * g.sw + 48;
}

#define SPARSE_RT_F32_MAXPOOL_PARAMS const MaxPoolGeom &g, const float *x, float *y, float *row

using F32MaxpoolFn = void (*)(SPARSE_RT_F32_MAXPOOL_PARAMS);

#define SPARSE_RT_MAXPOOL_KERNEL(name, isa) \
  namespace isa {                           \
  void name(SPARSE_RT_F32_MAXPOOL_PARAMS);  \
  }
#include "kernels/maxpool/kernels.inc"
#undef SPARSE_RT_MAXPOOL_KERNEL

}  // namespace sparse_rt::kernels
