#include "ops/conv2d_fallback.h"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "base/blas.h"
#include "base/threads.h"
#include "sparse_rt/status.h"

namespace sparse_rt::ops {
namespace {

constexpr int64_t kMaxIm2colFloats = int64_t{1} << 25;  // 128 MiB of scratch at most

int64_t floordiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
int64_t ceildiv(int64_t a, int64_t b) { return -floordiv(-a, b); }

Activation clamp_act(Act act) {
  if (act == Act::kRelu) return Activation::kRelu;
  if (act == Act::kRelu6) return Activation::kRelu6;
  return Activation::kNone;
}

}  // namespace

Conv2dFallback::Conv2dFallback(const Conv2dParams& p, std::vector<float> dense, CsrMatrix csr,
                               std::vector<float> bias, Act act)
    : p_(p), bias_(std::move(bias)), act_(act) {
  k_ = p.cin / p.groups * p.kh * p.kw;
  pointwise_ = p.kh == 1 && p.kw == 1 && p.sh == 1 && p.sw == 1 && p.pt == 0 && p.pl == 0 &&
               p.pb == 0 && p.pr == 0;
  const int64_t cols = pointwise_ ? 0 : k_ * p.ho * p.wo;
  if (p.groups == 1 && cols <= kMaxIm2colFloats) {
    if (!dense.empty()) {
      path_ = Path::kGemm;
      dense_ = std::move(dense);
    } else {
      path_ = Path::kCsrmm;
      csrmm_ = std::make_unique<CsrMatmul>(std::move(csr), bias_, clamp_act(act));
    }
  } else {
    path_ = Path::kDirect;
    csr_ = dense.empty() ? std::move(csr) : CsrMatrix::from_dense(dense.data(), p.cout, k_);
  }
}

int64_t Conv2dFallback::scratch_floats() const {
  return (path_ == Path::kDirect || pointwise_) ? 0 : k_ * p_.ho * p_.wo;
}

std::string Conv2dFallback::kernel_name() const {
  switch (path_) {
    case Path::kGemm: return std::string("f32_gemm__openblas") + (pointwise_ ? "" : " (im2col)");
    case Path::kCsrmm: return std::string(csrmm_->kernel_name()) + (pointwise_ ? "" : " (im2col)");
    case Path::kDirect: return "f32_conv_direct_sparse__fallback";
  }
  return "?";
}

void Conv2dFallback::im2col(const float* x, float* cols, int threads) const {
  const int64_t P = p_.ho * p_.wo, kk = p_.kh * p_.kw;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, k_)));
#pragma omp parallel for schedule(static) num_threads(parts)
  for (int64_t k = 0; k < k_; ++k) {
    const int64_t ci = k / kk, i = (k % kk) / p_.kw, j = k % p_.kw;
    const float* xc = x + ci * p_.h * p_.w;
    float* row = cols + k * P;
    // output columns whose tap j lands inside the input: [q0, q1), 0 <= q0 <= q1 <= wo
    const int64_t q0 = std::min(p_.wo, std::max<int64_t>(0, ceildiv(p_.pl - j * p_.dw, p_.sw)));
    const int64_t q1 = std::min(p_.wo, std::max(q0, ceildiv(p_.w + p_.pl - j * p_.dw, p_.sw)));
    for (int64_t oy = 0; oy < p_.ho; ++oy) {
      float* r = row + oy * p_.wo;
      const int64_t u = oy * p_.sh - p_.pt + i * p_.dh;
      if (u < 0 || u >= p_.h) {
        std::fill(r, r + p_.wo, 0.0f);
        continue;
      }
      std::fill(r, r + q0, 0.0f);
      const int64_t base = u * p_.w - p_.pl + j * p_.dw;
      for (int64_t q = q0; q < q1; ++q) r[q] = xc[base + q * p_.sw];
      std::fill(r + q1, r + p_.wo, 0.0f);
    }
  }
}

void Conv2dFallback::epilogue(float* y, int64_t rows, int threads, bool bias_done) const {
  const int64_t P = p_.ho * p_.wo;
  if (!bias_done && !bias_.empty()) {
#pragma omp parallel for schedule(static) num_threads(std::max<int>(1, std::min<int64_t>(threads, rows)))
    for (int64_t r = 0; r < rows; ++r) {
      const float b = bias_[r % p_.cout];
      for (int64_t q = 0; q < P; ++q) y[r * P + q] += b;
    }
  }
  const bool clamp_done = bias_done && (act_ == Act::kRelu || act_ == Act::kRelu6 || act_ == Act::kNone);
  if (!clamp_done && act_ != Act::kNone) activation(act_, y, y, rows * P, threads);
}

void Conv2dFallback::run(const float* x, int64_t n, float* y, float* scratch, int threads) const {
  const int64_t P = p_.ho * p_.wo, in_size = p_.cin * p_.h * p_.w, out_size = p_.cout * P;
  if (path_ == Path::kDirect) {
    direct(x, n, y, threads);
    epilogue(y, n * p_.cout, threads, false);
    return;
  }
  for (int64_t b = 0; b < n; ++b) {
    const float* xb = x + b * in_size;
    float* yb = y + b * out_size;
    const float* cols = xb;
    if (!pointwise_) {
      im2col(xb, scratch, threads);
      cols = scratch;
    }
    if (path_ == Path::kCsrmm) {
      csrmm_->matmul(cols, P, yb, threads);
      epilogue(yb, p_.cout, threads, true);
    } else {
      const int64_t chunks = (p_.cout + 15) / 16;
      const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
#pragma omp parallel num_threads(parts)
      {
        int64_t c0, c1;
        base::split_range(chunks, parts, omp_get_thread_num(), &c0, &c1);
        const int64_t r0 = c0 * 16, r1 = std::min(p_.cout, c1 * 16);
        if (r1 > r0)
          base::sgemm(false, false, r1 - r0, P, k_, 1.0f, dense_.data() + r0 * k_, k_, cols, P,
                      0.0f, yb + r0 * P, P);
      }
      epilogue(yb, p_.cout, threads, false);
    }
  }
}

void Conv2dFallback::direct(const float* x, int64_t n, float* y, int threads) const {
  const int64_t P = p_.ho * p_.wo, kk = p_.kh * p_.kw;
  const int64_t og = p_.cout / p_.groups, cg = p_.cin / p_.groups;
  const int64_t planes = n * p_.cout;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, planes)));
#pragma omp parallel for schedule(dynamic, 4) num_threads(parts)
  for (int64_t pl = 0; pl < planes; ++pl) {
    const int64_t b = pl / p_.cout, o = pl % p_.cout, g = o / og;
    float* yp = y + pl * P;
    std::fill(yp, yp + P, 0.0f);
    const float* xg = x + (b * p_.cin + g * cg) * p_.h * p_.w;
    for (int32_t e = csr_.indptr[o]; e < csr_.indptr[o + 1]; ++e) {
      const int64_t col = csr_.indices[e];
      const float wv = csr_.data[e];
      const int64_t ci = col / kk, i = (col % kk) / p_.kw, j = col % p_.kw;
      const float* xc = xg + ci * p_.h * p_.w;
      const int64_t q0 = std::max<int64_t>(0, ceildiv(p_.pl - j * p_.dw, p_.sw));
      const int64_t q1 = std::min(p_.wo, ceildiv(p_.w + p_.pl - j * p_.dw, p_.sw));
      if (q1 <= q0) continue;
      for (int64_t oy = 0; oy < p_.ho; ++oy) {
        const int64_t u = oy * p_.sh - p_.pt + i * p_.dh;
        if (u < 0 || u >= p_.h) continue;
        const float* xr = xc + (u * p_.w - p_.pl + j * p_.dw + q0 * p_.sw);  // in bounds
        float* yr = yp + oy * p_.wo + q0;
        const int64_t len = q1 - q0;
        if (p_.sw == 1) {
          for (int64_t q = 0; q < len; ++q) yr[q] += wv * xr[q];
        } else {
          for (int64_t q = 0; q < len; ++q) yr[q] += wv * xr[q * p_.sw];
        }
      }
    }
  }
}

}  // namespace sparse_rt::ops
