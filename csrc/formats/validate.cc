#include "formats/validate.h"

#include <algorithm>
#include <vector>

#include "sparse_rt/status.h"

namespace sparse_rt::formats {

void validate_compressed(const std::string& what, int64_t outer, int64_t inner,
                         const int32_t* indptr, int64_t indptr_len, const int32_t* indices,
                         int64_t nnz) {
  auto fail = [&](const std::string& msg) { throw InvalidArgument(what + ": " + msg); };
  if (outer < 0 || inner < 0) fail("negative shape");
  if (inner > INT32_MAX) fail("column count " + std::to_string(inner) + " exceeds int32 indices");
  if (indptr_len != outer + 1)
    fail("indptr has " + std::to_string(indptr_len) + " entries, expected " +
         std::to_string(outer + 1));
  if (indptr[0] != 0) fail("indptr[0] is " + std::to_string(indptr[0]) + ", expected 0");
  for (int64_t i = 0; i < outer; ++i)
    if (indptr[i + 1] < indptr[i])
      fail("indptr decreases at position " + std::to_string(i + 1) + " (" +
           std::to_string(indptr[i]) + " -> " + std::to_string(indptr[i + 1]) + ")");
  if (indptr[outer] != nnz)
    fail("indptr ends at " + std::to_string(indptr[outer]) + " but there are " +
         std::to_string(nnz) + " stored entries (indices/data length)");
  // Duplicates are found by sorting a copy of each row: memory stays O(longest row), whatever
  // column count a (possibly hostile) caller declares.
  std::vector<int32_t> row;
  for (int64_t i = 0; i < outer; ++i) {
    // Fast path: a row whose indices are in range and strictly increasing (the canonical form
    // every model file has) has no duplicates; only other rows are sorted.
    bool increasing = true;
    for (int64_t p = indptr[i]; p < indptr[i + 1]; ++p) {
      const int32_t j = indices[p];
      if (j < 0 || j >= inner || (p > indptr[i] && j <= indices[p - 1])) {
        increasing = false;
        break;
      }
    }
    if (increasing) continue;
    row.assign(indices + indptr[i], indices + indptr[i + 1]);
    for (size_t q = 0; q < row.size(); ++q) {
      int32_t j = row[q];
      if (j < 0 || j >= inner)
        fail("indices[" + std::to_string(indptr[i] + static_cast<int64_t>(q)) + "] = " +
             std::to_string(j) + " is out of range [0, " + std::to_string(inner) + ") in row " +
             std::to_string(i));
    }
    std::sort(row.begin(), row.end());
    for (size_t q = 1; q < row.size(); ++q)
      if (row[q] == row[q - 1])
        fail("duplicate index " + std::to_string(row[q]) + " in row " + std::to_string(i));
  }
}

}  // namespace sparse_rt::formats
