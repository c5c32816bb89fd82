// Fully-connected / matrix-multiply ops: weights are checked and packed once at construction,
// then run() may be called concurrently from many threads (the op is immutable).
#pragma once

#include <cstdint>
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

// Dense W (M x K row-major) through the single-threaded BLAS, split over output features.
class DenseLinear {
 public:
  DenseLinear(std::vector<float> w, int64_t rows, int64_t cols, std::vector<float> bias,
              Activation act);
  // y (n x M) = act(x W^T + b), x is n x K.
  void linear(const float* x, int64_t n, float* y, int threads) const;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  const char* kernel_name() const { return "f32_gemm__openblas"; }

 private:
  std::vector<float> w_;
  int64_t rows_, cols_;
  std::vector<float> bias_;
  Clamp clamp_;
};

}  // namespace sparse_rt::ops
