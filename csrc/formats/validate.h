// Validation of compressed index arrays shared by CSR and BSR (and by the model reader):
// each check throws InvalidArgument naming `what` and the offending field.
#pragma once

#include <cstdint>
#include <string>

namespace sparse_rt::formats {

// indptr: `outer + 1` entries, indptr[0] == 0, non-decreasing, indptr[outer] == nnz.
// indices: `nnz` entries, each in [0, inner); no duplicate index within one row.
void validate_compressed(const std::string& what, int64_t outer, int64_t inner,
                         const int32_t* indptr, int64_t indptr_len, const int32_t* indices,
                         int64_t nnz);

}  // namespace sparse_rt::formats
