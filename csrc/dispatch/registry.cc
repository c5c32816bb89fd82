#include "dispatch/registry.h"

#include <utility>

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

// Among `table` entries accepted by `fits`, those of the best ISA <= isa; then the one whose
// nr suits n (see registry.h).
template <typename K, typename Fits>
const K* pick(const std::vector<K>& table, base::Isa isa, int64_t n, Fits fits) {
  int best_isa = -1;
  for (const K& k : table)
    if (fits(k) && static_cast<int>(k.isa) <= static_cast<int>(isa) &&
        static_cast<int>(k.isa) > best_isa)
      best_isa = static_cast<int>(k.isa);
  if (best_isa < 0) return nullptr;
  const K* widest_fit = nullptr;  // largest nr <= n
  const K* narrowest = nullptr;   // smallest nr
  for (const K& k : table) {
    if (!fits(k) || static_cast<int>(k.isa) != best_isa) continue;
    if (k.nr <= n && (!widest_fit || k.nr > widest_fit->nr)) widest_fit = &k;
    if (!narrowest || k.nr < narrowest->nr) narrowest = &k;
  }
  return widest_fit ? widest_fit : narrowest;
}

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

const std::vector<CsrmvKernel>& csrmv_kernels() {
  static const std::vector<CsrmvKernel> table = {
#define SPARSE_RT_CSRMV_KERNEL(name, isa, bits) \
  SPARSE_RT_IF_BUILT_##isa(CsrmvKernel{#name, isa_of_##isa, &kernels::isa::name, bits}, )
#include "kernels/spmv/kernels.inc"
#undef SPARSE_RT_CSRMV_KERNEL
  };
  return table;
}

const std::vector<BsrmmKernel>& bsrmm_kernels() {
  static const std::vector<BsrmmKernel> table = {
#define SPARSE_RT_BSRMM_KERNEL(name, isa, br, bc, mr, nr) \
  SPARSE_RT_IF_BUILT_##isa(                               \
      BsrmmKernel{#name, isa_of_##isa, &kernels::isa::name, br, bc, mr, nr}, )
#include "kernels/bsrmm/kernels.inc"
#undef SPARSE_RT_BSRMM_KERNEL
  };
  return table;
}

const std::vector<TransposeKernel>& transpose_kernels() {
  static const std::vector<TransposeKernel> table = {
#define SPARSE_RT_TRANSPOSE_KERNEL(name, isa, mr, nr) \
  SPARSE_RT_IF_BUILT_##isa(TransposeKernel{#name, isa_of_##isa, &kernels::isa::name, mr, nr}, )
#include "kernels/transpose/kernels.inc"
#undef SPARSE_RT_TRANSPOSE_KERNEL
  };
  return table;
}

const TransposeKernel& select_transpose(base::Isa isa) {
  const TransposeKernel* k =
      pick(transpose_kernels(), isa, 1, [](const TransposeKernel&) { return true; });
  if (!k) throw Error("no transpose kernel built");
  return *k;
}

const CsrmmKernel& select_csrmm(base::Isa isa, int64_t n) {
  const CsrmmKernel* k = pick(csrmm_kernels(), isa, n, [](const CsrmmKernel&) { return true; });
  if (!k) throw Error("no csrmm kernel built for ISA " + std::string(base::isa_name(isa)));
  return *k;
}

const CsrmmKernel& select_csrmm(base::Isa isa) { return select_csrmm(isa, int64_t{1} << 30); }

const CsrmvKernel& select_csrmv(base::Isa isa, int index_bits) {
  const CsrmvKernel* best = nullptr;
  for (const CsrmvKernel& k : csrmv_kernels())
    if (k.index_bits == index_bits && static_cast<int>(k.isa) <= static_cast<int>(isa) &&
        (!best || static_cast<int>(k.isa) > static_cast<int>(best->isa)))
      best = &k;
  if (!best)
    throw Error("no csrmv kernel with " + std::to_string(index_bits) + "-bit indices for ISA " +
                base::isa_name(isa));
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

const std::vector<DwconvKernel>& dwconv_kernels() {
  static const std::vector<DwconvKernel> table = {
#define SPARSE_RT_DWCONV_KERNEL(name, isa) \
  SPARSE_RT_IF_BUILT_##isa(DwconvKernel{#name, isa_of_##isa, &kernels::isa::name}, )
#include "kernels/dwconv/kernels.inc"
#undef SPARSE_RT_DWCONV_KERNEL
  };
  return table;
}

const DwconvKernel* select_dwconv(base::Isa isa) {
  for (const DwconvKernel& k : dwconv_kernels())
    if (k.isa == isa) return &k;
  return nullptr;
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

const SpconvKernel* select_spconv_rows(const SpconvKernel& base, int64_t pitch) {
  const SpconvKernel* best = nullptr;
  if (pitch <= 0) return best;
  for (const SpconvKernel& k : spconv_kernels())
    if (k.mr == base.mr && k.isa == base.isa && k.nr % 16 == 0 && k.nr % pitch == 0 &&
        (!best || k.nr > best->nr))
      best = &k;
  return best;
}

const BsrmmKernel& select_bsrmm(base::Isa isa, int br, int bc, int64_t n) {
  auto shape = [&](const BsrmmKernel& k) { return k.br == br && k.bc == bc; };
  const BsrmmKernel* k;
  if (n == 1) {
    k = pick(bsrmm_kernels(), isa, 1, [&](const BsrmmKernel& q) { return shape(q) && q.nr == 1; });
  } else {
    // SIMD nr == 1 kernels handle n == 1 only; scalar references handle any n.
    k = pick(bsrmm_kernels(), isa, n, [&](const BsrmmKernel& q) {
      return shape(q) && (q.nr > 1 || q.isa == base::Isa::kScalar);
    });
  }
  if (!k) {
    std::string allowed;
    for (const auto& s : bsr_block_shapes())
      allowed += (allowed.empty() ? "" : ", ") + std::to_string(s.first) + "x" +
                 std::to_string(s.second);
    throw InvalidArgument("BSR block shape " + std::to_string(br) + "x" + std::to_string(bc) +
                          " has no kernel; supported block shapes: " + allowed);
  }
  return *k;
}

const std::vector<std::pair<int, int>>& bsr_block_shapes() {
  static const std::vector<std::pair<int, int>> shapes = {{4, 4}, {1, 4}, {4, 1}, {8, 1}, {16, 1}};
  return shapes;
}

const std::vector<PadrowsKernel>& padrows_kernels() {
  static const std::vector<PadrowsKernel> table = {
#define SPARSE_RT_PADROWS_KERNEL(name, isa) \
  SPARSE_RT_IF_BUILT_##isa(PadrowsKernel{#name, isa_of_##isa, &kernels::isa::name}, )
#include "kernels/padrows/kernels.inc"
#undef SPARSE_RT_PADROWS_KERNEL
  };
  return table;
}

namespace {

// The kernel of the best path <= isa in a table of {name, isa, fn} kernels.
template <class K>
const K& best_at_most(const std::vector<K>& table, base::Isa isa, const char* family) {
  const K* best = nullptr;
  for (const K& k : table)
    if (static_cast<int>(k.isa) <= static_cast<int>(isa) &&
        (!best || static_cast<int>(k.isa) > static_cast<int>(best->isa)))
      best = &k;
  if (!best) throw Error(std::string("no ") + family + " kernel built");
  return *best;
}

}  // namespace

const PadrowsKernel& select_padrows(base::Isa isa) {
  return best_at_most(padrows_kernels(), isa, "padrows");
}

const std::vector<MaxpoolKernel>& maxpool_kernels() {
  static const std::vector<MaxpoolKernel> table = {
#define SPARSE_RT_MAXPOOL_KERNEL(name, isa) \
  SPARSE_RT_IF_BUILT_##isa(MaxpoolKernel{#name, isa_of_##isa, &kernels::isa::name}, )
#include "kernels/maxpool/kernels.inc"
#undef SPARSE_RT_MAXPOOL_KERNEL
  };
  return table;
}

const MaxpoolKernel& select_maxpool(base::Isa isa) {
  return best_at_most(maxpool_kernels(), isa, "maxpool");
}

}  // namespace sparse_rt::dispatch
