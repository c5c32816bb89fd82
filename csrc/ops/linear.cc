#include "ops/linear.h"

#include <omp.h>

#include <algorithm>
#include <limits>

#include "base/blas.h"
#include "base/isa.h"
#include "base/threads.h"
#include "sparse_rt/status.h"

namespace sparse_rt::ops {
namespace {

void check_bias(const std::vector<float>& bias, int64_t rows, const char* who) {
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != rows)
    throw InvalidArgument(std::string(who) + ": bias has " + std::to_string(bias.size()) +
                          " values, expected " + std::to_string(rows) + " (one per output)");
}

// First row of part `t` of `parts` when rows are weighted by (non-zeros + 1): balances work
// between threads when some rows are much denser than others.
int64_t balanced_row(const std::vector<int32_t>& indptr, int64_t rows, int parts, int t) {
  const int64_t total = int64_t{indptr[rows]} + rows;
  const int64_t target = total * t / parts;
  int64_t lo = 0, hi = rows;
  while (lo < hi) {
    int64_t mid = (lo + hi) / 2;
    if (int64_t{indptr[mid]} + mid < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

}  // namespace

Clamp clamp_for(Activation act) {
  const float inf = std::numeric_limits<float>::infinity();
  switch (act) {
    case Activation::kRelu: return {0.0f, inf};
    case Activation::kRelu6: return {0.0f, 6.0f};
    case Activation::kNone: break;
  }
  return {-inf, inf};
}

CsrMatmul::CsrMatmul(CsrMatrix w, std::vector<float> bias, Activation act)
    : w_(std::move(w)), bias_(std::move(bias)), clamp_(clamp_for(act)) {
  w_.validate();
  check_bias(bias_, w_.rows, "CsrMatmul");
  kernel_ = &dispatch::select_csrmm(base::active_isa());
}

void CsrMatmul::matmul(const float* x, int64_t n, float* y, int threads) const {
  if (n < 0) throw InvalidArgument("CsrMatmul: negative column count");
  if (w_.rows == 0 || n == 0) return;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, w_.rows)));
  const float* bias = bias_.empty() ? nullptr : bias_.data();
#pragma omp parallel num_threads(parts)
  {
    const int t = omp_get_thread_num();
    const int64_t r0 = balanced_row(w_.indptr, w_.rows, parts, t);
    const int64_t r1 = balanced_row(w_.indptr, w_.rows, parts, t + 1);
    if (r1 > r0)
      kernel_->fn(r1 - r0, n, w_.indptr.data() + r0, w_.indices.data(), 32, w_.data.data(), x, n,
                  bias ? bias + r0 : nullptr, y + r0 * n, n, clamp_.lo, clamp_.hi);
  }
}

void CsrMatmul::linear(const float* x, int64_t n, float* y, int threads) const {
  if (n <= 1) {  // a single row: x (1 x K) is also K x 1, y (1 x M) is also M x 1
    matmul(x, n, y, threads);
    return;
  }
  const int64_t k = w_.cols, m = w_.rows;
  std::vector<float> xt(static_cast<size_t>(k * n)), yt(static_cast<size_t>(m * n));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t c = 0; c < k; ++c) xt[c * n + b] = x[b * k + c];
  matmul(xt.data(), n, yt.data(), threads);
  for (int64_t r = 0; r < m; ++r)
    for (int64_t b = 0; b < n; ++b) y[b * m + r] = yt[r * n + b];
}

DenseLinear::DenseLinear(std::vector<float> w, int64_t rows, int64_t cols, std::vector<float> bias,
                         Activation act)
    : w_(std::move(w)), rows_(rows), cols_(cols), bias_(std::move(bias)), act_(act),
      clamp_(clamp_for(act)) {
  if (rows < 0 || cols < 0 || static_cast<int64_t>(w_.size()) != rows * cols)
    throw InvalidArgument("DenseLinear: weight has " + std::to_string(w_.size()) +
                          " values, expected " + std::to_string(rows) + " x " +
                          std::to_string(cols));
  check_bias(bias_, rows_, "DenseLinear");
  dnnl_ = make_dnnl();
}

void DenseLinear::linear(const float* x, int64_t n, float* y, int threads) const {
  if (n == 0 || rows_ == 0) return;
  if (cols_ > 0 && dnnl_linear(x, n, y, threads)) return;
  blas_linear(x, n, y, threads);
}

void DenseLinear::blas_linear(const float* x, int64_t n, float* y, int threads) const {
  // Output features in chunks of 16 spread over the threads; BLAS itself is single-threaded.
  const int64_t chunks = (rows_ + 15) / 16;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
#pragma omp parallel num_threads(parts)
  {
    int64_t c0, c1;
    base::split_range(chunks, parts, omp_get_thread_num(), &c0, &c1);
    const int64_t r0 = c0 * 16, r1 = std::min(rows_, c1 * 16);
    if (r1 > r0) {
      base::sgemm(false, true, n, r1 - r0, cols_, 1.0f, x, cols_, w_.data() + r0 * cols_, cols_,
                  0.0f, y + r0, rows_);
      for (int64_t b = 0; b < n; ++b)
        for (int64_t r = r0; r < r1; ++r) {
          float v = y[b * rows_ + r] + (bias_.empty() ? 0.0f : bias_[r]);
          y[b * rows_ + r] = std::min(std::max(v, clamp_.lo), clamp_.hi);
        }
    }
  }
}

}  // namespace sparse_rt::ops
