// Memory hints for large, long-lived arrays.
#pragma once

#include <cstddef>

namespace sparse_rt::base {

// Ask for transparent huge pages (2 MiB) behind the 2 MiB-aligned part of [p, p + bytes):
// madvise(MADV_HUGEPAGE), for arrays that kernels stream through or read in no useful order
// (fewer TLB misses, and the hardware prefetchers stop at page boundaries). Call it before the
// memory is first written, e.g. between std::vector::reserve and filling. A hint only: does
// nothing for ranges under 2 MiB, and failure (THP disabled) only costs speed.
void advise_huge_pages(const void* p, size_t bytes);

}  // namespace sparse_rt::base
