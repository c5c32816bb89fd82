// The one place that decides which kernel runs. Tables are generated from each family's
// kernels.inc, filtered to the ISA paths compiled into this library.
#pragma once

#include <string>
#include <vector>

#include "base/isa.h"
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

}  // namespace sparse_rt::dispatch
