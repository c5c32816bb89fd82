// Packing for the csrmv family, run once when a layer is created (baseline x86-64 code; never
// include this header from an ISA-specific translation unit).
#pragma once

#include <cstdint>
#include <vector>

#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::kernels {

// The csrmv stream: rows as in the canonical CSR, each row's entries sorted by column (x is
// then read in increasing address order); column indices stored as uint16 when cols <= 65536
// (6 bytes per non-zero instead of 8) into idx16, else int32 into idx32. The values and index
// arrays (here and from sort_csr_rows) are advised for huge pages (base/memory.h).
struct PackedCsrmv {
  int64_t rows = 0, cols = 0;
  int index_bits = 32;
  std::vector<int32_t> indptr;
  std::vector<float> values;
  std::vector<uint16_t> idx16;
  std::vector<int32_t> idx32;
};

// `w` must be valid (CsrMatrix::validate()).
void pack_csrmv(const CsrMatrix& w, PackedCsrmv* out);

// Canonical CSR with every row sorted by column (the csrmm stream).
CsrMatrix sort_csr_rows(const CsrMatrix& w);
// Canonical BSR with every block row sorted by block column (the bsrmm stream).
BsrMatrix sort_bsr_rows(const BsrMatrix& w);

}  // namespace sparse_rt::kernels
