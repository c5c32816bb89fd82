// Canonical sparse matrices with scipy.sparse's field names and semantics.
//
// CSR: row i holds the non-zeros data[indptr[i] .. indptr[i+1]) at columns indices[...].
//   indptr has rows + 1 entries, starts at 0, never decreases and ends at nnz; every index is in
//   [0, cols). Column indices need not be sorted; duplicates are not allowed by validate().
// BSR: the matrix is tiled into r x c blocks (blocksize = {r, c}; rows % r == 0, cols % c == 0).
//   Block row i holds blocks indptr[i] .. indptr[i+1]); block j sits at block column indices[j]
//   and its values are data[j*r*c .. (j+1)*r*c) in row-major order (scipy's data[j, :, :]).
// All values are float32 and all indices int32.
#pragma once

#include <cstdint>
#include <vector>

namespace sparse_rt {

struct CsrMatrix {
  int64_t rows = 0, cols = 0;
  std::vector<float> data;
  std::vector<int32_t> indices;
  std::vector<int32_t> indptr;  // rows + 1 entries

  int64_t nnz() const { return static_cast<int64_t>(data.size()); }
  double density() const;
  // Throws InvalidArgument naming the field that breaks an invariant.
  void validate() const;
  // Keeps the entries of a row-major rows x cols array that are not zero.
  static CsrMatrix from_dense(const float* a, int64_t rows, int64_t cols);
  std::vector<float> to_dense() const;  // row-major rows x cols
};

struct BsrMatrix {
  int64_t rows = 0, cols = 0;
  int32_t block_rows = 1, block_cols = 1;
  std::vector<float> data;        // nblocks * block_rows * block_cols
  std::vector<int32_t> indices;   // nblocks
  std::vector<int32_t> indptr;    // rows / block_rows + 1 entries

  int64_t num_blocks() const { return static_cast<int64_t>(indices.size()); }
  double density() const;  // stored values (including zeros inside kept blocks) / (rows*cols)
  void validate() const;
  // Keeps every block that holds at least one non-zero.
  static BsrMatrix from_dense(const float* a, int64_t rows, int64_t cols, int32_t block_rows,
                              int32_t block_cols);
  std::vector<float> to_dense() const;
};

}  // namespace sparse_rt
