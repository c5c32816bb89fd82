// Fully-connected / matrix-multiply ops: weights are checked and packed once at construction,
// then run() may be called concurrently from many threads (the op is immutable).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dispatch/registry.h"
#include "sparse_rt/ops.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::ops {

struct Clamp {
  float lo, hi;
};
Clamp clamp_for(Activation act);

// W is M x K in CSR. bias is empty or M values.
class CsrMatmul {
 public:
  CsrMatmul(CsrMatrix w, std::vector<float> bias, Activation act);

  // y (M x n, row-major) = act(W x + b), x is K x n row-major.
  void matmul(const float* x, int64_t n, float* y, int threads) const;
  // y (n x M) = act(x W^T + b), x is n x K: the form a linear layer uses.
  void linear(const float* x, int64_t n, float* y, int threads) const;

  int64_t rows() const { return w_.rows; }
  int64_t cols() const { return w_.cols; }
  const CsrMatrix& weight() const { return w_; }
  const char* kernel_name() const { return kernel_->name; }

 private:
  CsrMatrix w_;
  std::vector<float> bias_;
  Clamp clamp_;
  const dispatch::CsrmmKernel* kernel_;
};

// Dense W (M x K row-major). With oneDNN in the build: its inner product over the weights as
// they are (no per-call packing; measured 4-10x faster than BLAS sgemm at batch 1, which packs
// W on every call), one primitive per batch size. Without oneDNN, or for a batch size where
// oneDNN offers only its reference implementation: the single-threaded BLAS, split over output
// features.
class DenseLinear {
 public:
  DenseLinear(std::vector<float> w, int64_t rows, int64_t cols, std::vector<float> bias,
              Activation act);
  // y (n x M) = act(x W^T + b), x is n x K.
  void linear(const float* x, int64_t n, float* y, int threads) const;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  // The path batch `n` takes: "f32_inner_product__onednn" or "f32_gemm__openblas".
  const char* kernel_name(int64_t n = 1) const;

 private:
  void blas_linear(const float* x, int64_t n, float* y, int threads) const;

  std::vector<float> w_;
  int64_t rows_, cols_;
  std::vector<float> bias_;
  Activation act_;
  Clamp clamp_;
  struct Dnnl;  // ops/linear_onednn.cc
  struct DnnlDeleter {
    void operator()(Dnnl* d) const;
  };
  std::unique_ptr<Dnnl, DnnlDeleter> dnnl_;  // null without oneDNN
  std::unique_ptr<Dnnl, DnnlDeleter> make_dnnl() const;
  // Runs y = act(x W^T + b) through oneDNN; false when it has no optimised kernel for n.
  bool dnnl_linear(const float* x, int64_t n, float* y, int threads) const;
};

}  // namespace sparse_rt::ops
