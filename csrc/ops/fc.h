// Sparse fully-connected layers: y[n x M] = act(x[n x K] . W^T + b) with W (M x K) in CSR or
// BSR. Weights are validated and packed once at construction, kernels are chosen for the ISA
// path active then; linear() may be called concurrently from many threads (the op is
// immutable; scratch buffers are per thread).
//
// Batch 1 runs the matrix x vector kernels directly on x and y. Batch n > 1 transposes x to
// K x n once per call (so a row of W meets contiguous batch vectors), runs the batched kernel
// on chunks of rows into a per-thread tile and transposes each tile into y while it is hot.
// Rows (block rows) are split between threads with equal non-zeros per thread.
#pragma once

#include <cstdint>
#include <vector>

#include "dispatch/registry.h"
#include "kernels/spmv/pack.h"
#include "ops/linear.h"
#include "sparse_rt/ops.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::ops {

class CsrLinear {
 public:
  CsrLinear(const CsrMatrix& w, std::vector<float> bias, Activation act);
  // x: n x K row-major, y: n x M row-major (n >= 0).
  void linear(const float* x, int64_t n, float* y, int threads) const;
  // Name of the kernel a call with batch n runs.
  const char* kernel_name(int64_t n) const;
  int64_t rows() const { return mv_.rows; }
  int64_t cols() const { return mv_.cols; }
  int64_t nnz() const { return static_cast<int64_t>(mv_.values.size()); }
  base::Isa isa() const { return isa_; }

 private:
  // Rows sorted by column, 16-bit indices when K allows: the one stream both the batch-1
  // (csrmv) and the batched (csrmm) kernels read.
  kernels::PackedCsrmv mv_;
  std::vector<float> bias_;
  Clamp clamp_;
  base::Isa isa_;
  const dispatch::CsrmvKernel* mv_kernel_;
};

class BsrLinear {
 public:
  // Throws InvalidArgument when the block shape has no kernel (dispatch::bsr_block_shapes()).
  BsrLinear(const BsrMatrix& w, std::vector<float> bias, Activation act);
  void linear(const float* x, int64_t n, float* y, int threads) const;
  const char* kernel_name(int64_t n) const;
  int64_t rows() const { return w_.rows; }
  int64_t cols() const { return w_.cols; }
  int block_rows() const { return w_.block_rows; }
  int block_cols() const { return w_.block_cols; }
  int64_t num_blocks() const { return w_.num_blocks(); }
  base::Isa isa() const { return isa_; }

 private:
  BsrMatrix w_;  // block rows sorted by block column
  std::vector<float> bias_;
  Clamp clamp_;
  base::Isa isa_;
};

}  // namespace sparse_rt::ops
