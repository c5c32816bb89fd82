// Every kernel of the FC lists (csrmm, csrmv, bsrmm) against its family's scalar reference over
// an edge sweep: rows below/at/above the tile, batch widths below/at/above nr, odd and prime
// sizes, sparsity 0 / 0.5 / 0.9 / 1.0 (so empty rows and all-zero matrices), with and without
// bias, each activation, NaN propagation. A kernel whose ISA this CPU lacks is skipped.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/isa.h"
#include "dispatch/registry.h"
#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
struct Act {
  const char* name;
  float lo, hi;
};
const Act kActs[] = {{"none", -kInf, kInf}, {"relu", 0.0f, kInf}, {"relu6", 0.0f, 6.0f}};

std::vector<float> random_dense(int64_t rows, int64_t cols, double sparsity, std::mt19937& rng) {
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<float> a(static_cast<size_t>(rows * cols));
  for (float& v : a) v = u(rng) < sparsity ? 0.0f : val(rng);
  return a;
}

// |a - b| <= tol * (1 + scale), where scale bounds the magnitudes summed.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float scale,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(want[i])) {
      ASSERT_TRUE(std::isnan(got[i])) << what << " at " << i << ": want NaN, got " << got[i];
      continue;
    }
    ASSERT_NEAR(got[i], want[i], 1e-5f * (1.0f + scale)) << what << " at flat index " << i;
  }
}

bool skip(base::Isa isa) { return !base::isa_usable(isa); }

// ------------------------------------------------------------------------------------------
TEST(FcKernels, ListsAreConsistent) {
  for (const auto& k : dispatch::csrmm_kernels()) EXPECT_GE(k.nr, 1) << k.name;
  for (const auto& k : dispatch::csrmv_kernels())
    EXPECT_TRUE(k.index_bits == 16 || k.index_bits == 32) << k.name;
  for (const auto& shape : dispatch::bsr_block_shapes()) {
    bool has_reference = false;
    for (const auto& k : dispatch::bsrmm_kernels())
      if (k.br == shape.first && k.bc == shape.second && k.isa == base::Isa::kScalar)
        has_reference = true;
    EXPECT_TRUE(has_reference) << shape.first << "x" << shape.second;
  }
}

TEST(FcKernels, CsrmmMatchesReference) {
  const auto& ref = dispatch::csrmm_kernels().front();
  ASSERT_EQ(ref.isa, base::Isa::kScalar);
  std::mt19937 rng(123);
  for (const auto& k : dispatch::csrmm_kernels()) {
    if (skip(k.isa)) { std::cout << "[  SKIPPED ] " << k.name << " (ISA not usable)\n"; continue; }
    for (int64_t m : {1, 3, 17})
      for (int64_t kk : {1, 7, 61})
        for (int64_t n : {int64_t{1}, int64_t{k.nr} - 1, int64_t{k.nr}, int64_t{k.nr} + 1,
                          2 * int64_t{k.nr} + 3, int64_t{13}})
          for (double s : {0.0, 0.5, 0.9, 1.0})
            for (const Act& act : kActs) {
              if (n < 1) continue;
              std::vector<float> wd = random_dense(m, kk, s, rng);
              CsrMatrix w = CsrMatrix::from_dense(wd.data(), m, kk);
              std::vector<float> x = random_dense(kk, n, 0.0, rng), bias = random_dense(m, 1, 0.0, rng);
              const bool with_bias = (m + n) % 2 == 0;
              std::vector<float> y_ref(m * n, 7.0f);
              ref.fn(m, n, w.indptr.data(), w.indices.data(), 32, w.data.data(), x.data(), n,
                     with_bias ? bias.data() : nullptr, y_ref.data(), n, act.lo, act.hi);
              // The same matrix through 32- and 16-bit column indices.
              const std::vector<uint16_t> idx16(w.indices.begin(), w.indices.end());
              for (int bits : {32, 16}) {
                const void* idx = bits == 16 ? static_cast<const void*>(idx16.data())
                                             : static_cast<const void*>(w.indices.data());
                std::vector<float> y(m * n, -7.0f);
                k.fn(m, n, w.indptr.data(), idx, bits, w.data.data(), x.data(), n,
                     with_bias ? bias.data() : nullptr, y.data(), n, act.lo, act.hi);
                std::ostringstream what;
                what << k.name << " bits=" << bits << " m=" << m << " k=" << kk << " n=" << n
                     << " s=" << s << " act=" << act.name << " bias=" << with_bias;
                expect_close(y, y_ref, static_cast<float>(kk), what.str());
              }
            }
  }
}

TEST(FcKernels, CsrmmStridedOutputAndSubrange) {
  // ldx/ldy larger than n, and a sub-range of rows passed by offsetting indptr/bias/y.
  std::mt19937 rng(7);
  const int64_t m = 9, kk = 23, n = 19, ldx = 29, ldy = 31;
  std::vector<float> wd = random_dense(m, kk, 0.6, rng);
  CsrMatrix w = CsrMatrix::from_dense(wd.data(), m, kk);
  std::vector<float> x = random_dense(kk, ldx, 0.0, rng), bias = random_dense(m, 1, 0.0, rng);
  const auto& ref = dispatch::csrmm_kernels().front();
  for (const auto& k : dispatch::csrmm_kernels()) {
    if (skip(k.isa)) continue;
    std::vector<float> y(m * ldy, 5.0f), y_ref(m * ldy, 5.0f);
    k.fn(m - 2, n, w.indptr.data() + 2, w.indices.data(), 32, w.data.data(), x.data(), ldx,
         bias.data() + 2, y.data() + 2 * ldy, ldy, -kInf, kInf);
    ref.fn(m - 2, n, w.indptr.data() + 2, w.indices.data(), 32, w.data.data(), x.data(), ldx,
           bias.data() + 2, y_ref.data() + 2 * ldy, ldy, -kInf, kInf);
    expect_close(y, y_ref, kk, k.name);  // includes the untouched padding (5.0)
  }
}

TEST(FcKernels, CsrmvMatchesReference) {
  std::mt19937 rng(321);
  for (const auto& k : dispatch::csrmv_kernels()) {
    if (skip(k.isa)) { std::cout << "[  SKIPPED ] " << k.name << " (ISA not usable)\n"; continue; }
    const auto& ref = dispatch::select_csrmv(base::Isa::kScalar, k.index_bits);
    for (int64_t m : {1, 2, 19})
      for (int64_t kk : {1, 7, 8, 31, 33, 200, 1031})
        for (double s : {0.0, 0.5, 0.9, 1.0})
          for (const Act& act : kActs) {
            std::vector<float> wd = random_dense(m, kk, s, rng);
            CsrMatrix w = CsrMatrix::from_dense(wd.data(), m, kk);
            std::vector<uint16_t> idx16(w.indices.begin(), w.indices.end());
            const void* idx = k.index_bits == 16 ? static_cast<const void*>(idx16.data())
                                                 : static_cast<const void*>(w.indices.data());
            std::vector<float> x = random_dense(kk, 1, 0.0, rng), bias = random_dense(m, 1, 0.0, rng);
            const bool with_bias = kk % 2 == 1;
            std::vector<float> y(m, -7.0f), y_ref(m, 7.0f);
            k.fn(m, w.indptr.data(), idx, w.data.data(), x.data(), with_bias ? bias.data() : nullptr,
                 y.data(), act.lo, act.hi);
            ref.fn(m, w.indptr.data(), idx, w.data.data(), x.data(),
                   with_bias ? bias.data() : nullptr, y_ref.data(), act.lo, act.hi);
            std::ostringstream what;
            what << k.name << " m=" << m << " k=" << kk << " s=" << s << " act=" << act.name;
            expect_close(y, y_ref, static_cast<float>(kk), what.str());
          }
  }
}

TEST(FcKernels, BsrmmMatchesReference) {
  std::mt19937 rng(99);
  for (const auto& k : dispatch::bsrmm_kernels()) {
    if (skip(k.isa)) { std::cout << "[  SKIPPED ] " << k.name << " (ISA not usable)\n"; continue; }
    const auto& ref = dispatch::select_bsrmm(base::Isa::kScalar, k.br, k.bc, 2);
    std::vector<int64_t> widths = {1};
    if (k.nr > 1 || k.isa == base::Isa::kScalar)
      widths = {2, int64_t{k.nr} - 1, int64_t{k.nr}, int64_t{k.nr} + 1, 2 * int64_t{k.nr} + 3, 13};
    for (int64_t mb : {1, 2, 5})
      for (int64_t kb : {1, 3, 9, 17})
        for (int64_t n : widths)
          for (double s : {0.0, 0.5, 0.9, 1.0})
            for (const Act& act : kActs) {
              if (n < 1) continue;
              const int64_t m = mb * k.br, kk = kb * k.bc;
              // Block-sparse with zeros inside kept blocks too (padded blocks).
              std::vector<float> wd = random_dense(m, kk, 0.3, rng);
              std::uniform_real_distribution<double> u(0.0, 1.0);
              for (int64_t bi = 0; bi < mb; ++bi)
                for (int64_t bj = 0; bj < kb; ++bj)
                  if (u(rng) < s)
                    for (int r = 0; r < k.br; ++r)
                      for (int c = 0; c < k.bc; ++c) wd[(bi * k.br + r) * kk + bj * k.bc + c] = 0.0f;
              BsrMatrix w = BsrMatrix::from_dense(wd.data(), m, kk, k.br, k.bc);
              std::vector<float> x = random_dense(kk, n, 0.0, rng), bias = random_dense(m, 1, 0.0, rng);
              const bool with_bias = (mb + kb) % 2 == 0;
              std::vector<float> y(m * n, -7.0f), y_ref(m * n, 7.0f);
              k.fn(mb, n, w.indptr.data(), w.indices.data(), w.data.data(), x.data(), n,
                   with_bias ? bias.data() : nullptr, y.data(), n, act.lo, act.hi);
              ref.fn(mb, n, w.indptr.data(), w.indices.data(), w.data.data(), x.data(), n,
                     with_bias ? bias.data() : nullptr, y_ref.data(), n, act.lo, act.hi);
              std::ostringstream what;
              what << k.name << " mb=" << mb << " kb=" << kb << " n=" << n << " s=" << s
                   << " act=" << act.name << " bias=" << with_bias;
              expect_close(y, y_ref, static_cast<float>(kk), what.str());
            }
  }
}

TEST(FcKernels, NanPropagatesThroughClamp) {
  // A NaN in x reaching a row's sum must come out as NaN under every activation.
  const int64_t m = 16, kk = 16;
  std::vector<float> wd(m * kk, 0.5f);
  CsrMatrix csr = CsrMatrix::from_dense(wd.data(), m, kk);
  for (const Act& act : kActs) {
    for (const auto& k : dispatch::csrmm_kernels()) {
      if (skip(k.isa)) continue;
      const int64_t n = 3;
      std::vector<float> x(kk * n, 1.0f), y(m * n);
      x[5 * n + 1] = std::numeric_limits<float>::quiet_NaN();
      k.fn(m, n, csr.indptr.data(), csr.indices.data(), 32, csr.data.data(), x.data(), n,
           nullptr, y.data(), n, act.lo, act.hi);
      EXPECT_TRUE(std::isnan(y[1])) << k.name << " " << act.name;
      EXPECT_FALSE(std::isnan(y[0])) << k.name << " " << act.name;
    }
    for (const auto& k : dispatch::csrmv_kernels()) {
      if (skip(k.isa)) continue;
      std::vector<float> x(kk, 1.0f), y(m);
      x[5] = std::numeric_limits<float>::quiet_NaN();
      std::vector<uint16_t> idx16(csr.indices.begin(), csr.indices.end());
      const void* idx = k.index_bits == 16 ? static_cast<const void*>(idx16.data())
                                           : static_cast<const void*>(csr.indices.data());
      k.fn(m, csr.indptr.data(), idx, csr.data.data(), x.data(), nullptr, y.data(), act.lo, act.hi);
      EXPECT_TRUE(std::isnan(y[3])) << k.name << " " << act.name;
    }
    for (const auto& k : dispatch::bsrmm_kernels()) {
      if (skip(k.isa)) continue;
      const int64_t n = k.nr == 1 ? 1 : 5;
      BsrMatrix w = BsrMatrix::from_dense(wd.data(), m, kk, k.br, k.bc);
      std::vector<float> x(kk * n, 1.0f), y(m * n);
      x[5 * n] = std::numeric_limits<float>::quiet_NaN();
      k.fn(m / k.br, n, w.indptr.data(), w.indices.data(), w.data.data(), x.data(), n, nullptr,
           y.data(), n, act.lo, act.hi);
      EXPECT_TRUE(std::isnan(y[0])) << k.name << " " << act.name;
    }
  }
}

TEST(FcDispatch, PicksByBatchWidth) {
  for (base::Isa isa : base::usable_isas()) {
    EXPECT_LE(static_cast<int>(dispatch::select_csrmm(isa, 1).isa), static_cast<int>(isa));
    for (const auto& shape : dispatch::bsr_block_shapes()) {
      const auto& one = dispatch::select_bsrmm(isa, shape.first, shape.second, 1);
      EXPECT_EQ(one.nr, 1) << one.name;
      const auto& many = dispatch::select_bsrmm(isa, shape.first, shape.second, 64);
      EXPECT_TRUE(many.nr > 1 || many.isa == base::Isa::kScalar) << many.name;
    }
  }
  EXPECT_THROW(dispatch::select_bsrmm(base::Isa::kAvx512, 3, 3, 1), InvalidArgument);
}

}  // namespace
}  // namespace sparse_rt

namespace sparse_rt {
namespace {

TEST(FcKernels, TransposeMatchesDefinition) {
  std::mt19937 rng(5);
  for (const auto& k : dispatch::transpose_kernels()) {
    if (skip(k.isa)) continue;
    for (int64_t rows : {1, 7, 8, 9, 64, 67})
      for (int64_t cols : {1, 5, 8, 16, 33}) {
        const int64_t lds = cols + 3, ldd = rows + 2;
        std::vector<float> src = random_dense(rows, lds, 0.0, rng);
        std::vector<float> dst(cols * ldd, -1.0f), want(cols * ldd, -1.0f);
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t c = 0; c < cols; ++c) want[c * ldd + r] = src[r * lds + c];
        k.fn(rows, cols, src.data(), lds, dst.data(), ldd);
        ASSERT_EQ(dst, want) << k.name << " rows=" << rows << " cols=" << cols;
      }
  }
}

}  // namespace
}  // namespace sparse_rt
