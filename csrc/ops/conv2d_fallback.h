// A small, correct conv2d for the graph executor until the fast conv ops land (they replace
// this file; the executor only sees graph::Layer). Handles every stride, padding, dilation
// and group count of docs/format.md §5.2:
//   * groups == 1: per sample, im2col into caller scratch (skipped for a 1x1/stride-1/unpadded
//     conv), then W (M x K) @ cols (K x P) with the CSR kernels (ops::CsrMatmul) or the
//     single-threaded BLAS split over output channels;
//   * grouped / depthwise, or an im2col buffer that would be too large: a direct loop over the
//     stored weights of each output channel (OpenMP over batch x channels).
// Weights are packed once at construction; run() is const and may be called concurrently.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/elementwise.h"
#include "ops/linear.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::ops {

struct Conv2dParams {
  int64_t cin = 0, cout = 0, h = 0, w = 0;  // input channels and spatial size (per sample)
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;
  int64_t groups = 1;
  int64_t ho = 0, wo = 0;  // output size, computed by the caller with the spec's rule
};

class Conv2dFallback {
 public:
  // W is cout x (cin/groups * kh * kw), column k = (ci*kh + i)*kw + j. Pass it dense
  // (row-major, `dense` non-empty) or as CSR (`dense` empty). bias: empty or cout values.
  Conv2dFallback(const Conv2dParams& p, std::vector<float> dense, CsrMatrix csr,
                 std::vector<float> bias, Act act);

  // Scratch floats one run() needs (independent of the batch).
  int64_t scratch_floats() const;
  // x: (n, cin, h, w) -> y: (n, cout, ho, wo).
  void run(const float* x, int64_t n, float* y, float* scratch, int threads) const;
  std::string kernel_name() const;

 private:
  enum class Path { kGemm, kCsrmm, kDirect };
  void im2col(const float* x, float* cols, int threads) const;
  void direct(const float* x, int64_t n, float* y, int threads) const;
  void epilogue(float* y, int64_t rows, int threads, bool bias_done) const;

  Conv2dParams p_;
  Path path_;
  bool pointwise_;
  int64_t k_ = 0;
  std::vector<float> dense_;
  CsrMatrix csr_;                       // kDirect
  std::unique_ptr<CsrMatmul> csrmm_;    // kCsrmm (bias + clamp fused)
  std::vector<float> bias_;
  Act act_;
};

}  // namespace sparse_rt::ops
