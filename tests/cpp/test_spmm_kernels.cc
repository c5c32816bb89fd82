// Every kernel in kernels/spmm/kernels.inc against the scalar reference over an edge sweep.
#include <gtest/gtest.h>

#include <limits>
#include <sstream>

#include "dispatch/registry.h"
#include "test_util.h"

namespace sparse_rt {
namespace {

struct Case {
  int64_t m, k, n;
  double sparsity;
  bool bias;
  float lo, hi;
};

std::string describe(const dispatch::CsrmmKernel& kern, const Case& c) {
  std::ostringstream os;
  os << kern.name << " m=" << c.m << " k=" << c.k << " n=" << c.n << " sparsity=" << c.sparsity
     << " bias=" << c.bias << " clamp=[" << c.lo << ", " << c.hi << "]";
  return os.str();
}

TEST(CsrmmKernels, MatchReferenceOverEdgeSweep) {
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<Case> cases;
  for (int64_t m : {1, 3, 17})
    for (int64_t n : {1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 130})
      for (double s : {0.0, 0.5, 0.9, 1.0})
        cases.push_back({m, 29, n, s, (m + n) % 2 == 0, (n % 3 == 0) ? 0.0f : -inf,
                         (n % 5 == 0) ? 6.0f : inf});
  const auto& reference = dispatch::csrmm_kernels().front();
  ASSERT_EQ(reference.isa, base::Isa::kScalar);
  int ran = 0;
  for (const auto& kern : dispatch::csrmm_kernels()) {
    if (!testing::cpu_can_run(kern.isa)) {
      std::cout << "skipping " << kern.name << ": CPU lacks " << base::isa_name(kern.isa) << "\n";
      continue;
    }
    for (const Case& c : cases) {
      auto w = testing::random_sparse_dense(c.m, c.k, c.sparsity, 11);
      CsrMatrix csr = CsrMatrix::from_dense(w.data(), c.m, c.k);
      // A prime leading dimension for x and y catches stride bugs.
      const int64_t ldx = c.n + 3, ldy = c.n + 5;
      auto x = testing::random_dense(c.k * ldx, 12);
      auto bias = testing::random_dense(c.m, 13);
      std::vector<float> want(static_cast<size_t>(c.m * ldy), -7.0f), got = want;
      reference.fn(c.m, c.n, csr.indptr.data(), csr.indices.data(), 32, csr.data.data(),
                   x.data(), ldx, c.bias ? bias.data() : nullptr, want.data(), ldy, c.lo, c.hi);
      kern.fn(c.m, c.n, csr.indptr.data(), csr.indices.data(), 32, csr.data.data(), x.data(),
              ldx, c.bias ? bias.data() : nullptr, got.data(), ldy, c.lo, c.hi);
      ASSERT_LE(testing::max_rel_diff(got, want), 1e-5) << describe(kern, c);
      for (int64_t i = 0; i < c.m; ++i)
        for (int64_t j = c.n; j < ldy; ++j)
          ASSERT_EQ(got[i * ldy + j], -7.0f) << "wrote past n: " << describe(kern, c);
      ++ran;
    }
  }
  EXPECT_GE(ran, static_cast<int>(cases.size()));
}

TEST(CsrmmKernels, NanPropagatesThroughClamp) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> w = {1.0f, 0.0f, 2.0f};
  CsrMatrix csr = CsrMatrix::from_dense(w.data(), 1, 3);
  for (const auto& kern : dispatch::csrmm_kernels()) {
    if (!testing::cpu_can_run(kern.isa)) continue;
    for (int64_t n : {1, 16, 64, 70}) {
      std::vector<float> x(static_cast<size_t>(3 * n), 1.0f), y(static_cast<size_t>(n));
      x[0] = nan;
      kern.fn(1, n, csr.indptr.data(), csr.indices.data(), 32, csr.data.data(), x.data(), n,
              nullptr, y.data(), n, 0.0f, 6.0f);
      EXPECT_TRUE(std::isnan(y[0])) << kern.name << " n=" << n;
      if (n > 1) EXPECT_EQ(y[1], 3.0f) << kern.name;
    }
  }
}

TEST(CsrmmDispatch, PicksTheBestKernelPerIsa) {
  EXPECT_EQ(dispatch::select_csrmm(base::Isa::kScalar).isa, base::Isa::kScalar);
  for (base::Isa isa : base::built_isas()) EXPECT_EQ(dispatch::select_csrmm(isa).isa, isa);
}

}  // namespace
}  // namespace sparse_rt
