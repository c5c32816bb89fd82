// The one place that decides which kernel runs. Tables are generated from each family's
// kernels.inc, filtered to the ISA paths compiled into this library.
#pragma once

#include <string>
#include <vector>

#include "base/isa.h"
#include "kernels/spconv/spconv.h"
#include "kernels/spmm/spmm.h"

namespace sparse_rt::dispatch {

template <typename Fn>
struct KernelInfo {
  const char* name;
  base::Isa isa;
  Fn fn;
  int mr, nr;
};

using CsrmmKernel = KernelInfo<kernels::F32CsrmmFn>;

// Every built csrmm kernel, in list order (usable or not on this CPU: callers check isa).
const std::vector<CsrmmKernel>& csrmm_kernels();

// The kernel for `isa` (normally base::active_isa()); falls back to lower paths.
const CsrmmKernel& select_csrmm(base::Isa isa);

using SpconvKernel = KernelInfo<kernels::F32SpconvFn>;

// Every built direct sparse-convolution kernel, in list order (usable or not on this CPU).
const std::vector<SpconvKernel>& spconv_kernels();

// The spconv kernel with row-group size `mr` (1, 4 or 8) for the best path <= `isa`.
const SpconvKernel& select_spconv(base::Isa isa, int mr);

}  // namespace sparse_rt::dispatch
