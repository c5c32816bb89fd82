#include "dispatch/registry.h"

#include "sparse_rt/status.h"

namespace sparse_rt::dispatch {
namespace {

#define SPARSE_RT_IF_BUILT_scalar(...) __VA_ARGS__
#ifdef SPARSE_RT_BUILT_AVX2
#define SPARSE_RT_IF_BUILT_avx2(...) __VA_ARGS__
#else
#define SPARSE_RT_IF_BUILT_avx2(...)
#endif
#ifdef SPARSE_RT_BUILT_AVX512
#define SPARSE_RT_IF_BUILT_avx512(...) __VA_ARGS__
#else
#define SPARSE_RT_IF_BUILT_avx512(...)
#endif

constexpr base::Isa isa_of_scalar = base::Isa::kScalar;
constexpr base::Isa isa_of_avx2 = base::Isa::kAvx2;
constexpr base::Isa isa_of_avx512 = base::Isa::kAvx512;

}  // namespace

const std::vector<CsrmmKernel>& csrmm_kernels() {
  static const std::vector<CsrmmKernel> table = {
#define SPARSE_RT_CSRMM_KERNEL(name, isa, mr, nr) \
  SPARSE_RT_IF_BUILT_##isa(CsrmmKernel{#name, isa_of_##isa, &kernels::isa::name, mr, nr}, )
#include "kernels/spmm/kernels.inc"
#undef SPARSE_RT_CSRMM_KERNEL
  };
  return table;
}

const CsrmmKernel& select_csrmm(base::Isa isa) {
  const CsrmmKernel* best = nullptr;
  for (const CsrmmKernel& k : csrmm_kernels())
    if (static_cast<int>(k.isa) <= static_cast<int>(isa) &&
        (!best || static_cast<int>(k.isa) > static_cast<int>(best->isa)))
      best = &k;
  if (!best) throw Error("no csrmm kernel built for ISA " + std::string(base::isa_name(isa)));
  return *best;
}

const std::vector<SpconvKernel>& spconv_kernels() {
  static const std::vector<SpconvKernel> table = {
#define SPARSE_RT_SPCONV_KERNEL(name, isa, mr, nr) \
  SPARSE_RT_IF_BUILT_##isa(SpconvKernel{#name, isa_of_##isa, &kernels::isa::name, mr, nr}, )
#include "kernels/spconv/kernels.inc"
#undef SPARSE_RT_SPCONV_KERNEL
  };
  return table;
}

const SpconvKernel& select_spconv(base::Isa isa, int mr) {
  const SpconvKernel* best = nullptr;
  for (const SpconvKernel& k : spconv_kernels())
    if (k.mr == mr && static_cast<int>(k.isa) <= static_cast<int>(isa) &&
        (!best || static_cast<int>(k.isa) > static_cast<int>(best->isa)))
      best = &k;
  if (!best)
    throw Error("no spconv kernel with " + std::to_string(mr) + " rows per group built for ISA " +
                std::string(base::isa_name(isa)));
  return *best;
}

}  // namespace sparse_rt::dispatch
