// The one place that decides which kernel runs. Tables are generated from each family's
// kernels.inc, filtered to the ISA paths compiled into this library.
//
// Rule for every family: take the best ISA path <= `isa` that has a kernel for the request
// (block shape, index width), then within that path pick by batch width n: n == 1 takes the
// batch-1 kernel (nr == 1) where the family has one; n > 1 takes the widest tile with nr <= n,
// or the narrowest tile when n is below every nr. Scalar reference kernels serve any n.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/isa.h"
#include "kernels/spconv/spconv.h"
#include "kernels/bsrmm/bsrmm.h"
#include "kernels/dwconv/dwconv.h"
#include "kernels/maxpool/maxpool.h"
#include "kernels/padrows/padrows.h"
#include "kernels/spmm/spmm.h"
#include "kernels/spmv/spmv.h"
#include "kernels/transpose/transpose.h"

namespace sparse_rt::dispatch {

template <typename Fn>
struct KernelInfo {
  const char* name;
  base::Isa isa;
  Fn fn;
  int mr, nr;
};

using CsrmmKernel = KernelInfo<kernels::F32CsrmmFn>;

struct CsrmvKernel {
  const char* name;
  base::Isa isa;
  kernels::F32CsrmvFn fn;
  int index_bits;  // 16 or 32
};

struct BsrmmKernel {
  const char* name;
  base::Isa isa;
  kernels::F32BsrmmFn fn;
  int br, bc;  // block shape served
  int mr, nr;  // register tile; nr == 1: batch-1 kernel (SIMD ones require n == 1)
};

using TransposeKernel = KernelInfo<kernels::F32TransposeFn>;

// Every built kernel of a family, in list order (usable or not on this CPU: callers check isa).
const std::vector<CsrmmKernel>& csrmm_kernels();
const std::vector<CsrmvKernel>& csrmv_kernels();
const std::vector<BsrmmKernel>& bsrmm_kernels();
const std::vector<TransposeKernel>& transpose_kernels();
const TransposeKernel& select_transpose(base::Isa isa);

// The csrmm kernel for `isa` (normally base::active_isa()) and batch width n (n >= 1); falls
// back to lower paths. Without n: the widest tile.
const CsrmmKernel& select_csrmm(base::Isa isa, int64_t n);
const CsrmmKernel& select_csrmm(base::Isa isa);
// Batch-1 CSR kernel reading `index_bits`-wide (16 or 32) column indices.
const CsrmvKernel& select_csrmv(base::Isa isa, int index_bits);
// BSR kernel for block shape br x bc and batch width n. Throws InvalidArgument when no kernel
// serves the block shape (see bsr_block_shapes()).
const BsrmmKernel& select_bsrmm(base::Isa isa, int br, int bc, int64_t n);
// Block shapes with kernels, as {br, bc} pairs in order of preference.
const std::vector<std::pair<int, int>>& bsr_block_shapes();

using SpconvKernel = KernelInfo<kernels::F32SpconvFn>;

// Every built direct sparse-convolution kernel, in list order (usable or not on this CPU).
const std::vector<SpconvKernel>& spconv_kernels();

// The spconv kernel with row-group size `mr` (1, 4 or 8) for the best path <= `isa`: the first
// listed for that path.
const SpconvKernel& select_spconv(base::Isa isa, int mr);

// For shifted taps (kernels/spconv/spconv.h): the kernel of `base`'s ISA and row-group size with
// the largest register tile (nr, a multiple of 16) that holds whole rows of `pitch` floats, or
// null when none does. Measured: the 128-pixel AVX-512 tile is 6-8% faster than the 64-pixel one
// on shifted 3x3 layers, and slower on 1x1 layers (docs/architecture-conv.md).
const SpconvKernel* select_spconv_rows(const SpconvKernel& base, int64_t pitch);

struct DwconvKernel {
  const char* name;
  base::Isa isa;
  kernels::F32DwconvFn fn;
};

// Every built depthwise 3x3 kernel (stride 1 and 2; usable or not on this CPU).
const std::vector<DwconvKernel>& dwconv_kernels();
// The dwconv kernel of exactly path `isa`, or null: paths without one run depthwise convs on
// the spconv kernels, which beat a lower path's dwconv kernel.
const DwconvKernel* select_dwconv(base::Isa isa);

struct PadrowsKernel {
  const char* name;
  base::Isa isa;
  kernels::F32PadrowsFn fn;
};

// Every built zero-padded row-copy kernel (usable or not on this CPU), and the one of the best
// path <= `isa` (the reference one serves every CPU).
const std::vector<PadrowsKernel>& padrows_kernels();
const PadrowsKernel& select_padrows(base::Isa isa);

struct MaxpoolKernel {
  const char* name;
  base::Isa isa;
  kernels::F32MaxpoolFn fn;
};

// Every built max-pooling kernel (usable or not on this CPU), and the one of the best path
// <= `isa` (the reference one serves every CPU).
const std::vector<MaxpoolKernel>& maxpool_kernels();
const MaxpoolKernel& select_maxpool(base::Isa isa);

}  // namespace sparse_rt::dispatch
