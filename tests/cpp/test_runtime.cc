#include <gtest/gtest.h>

#include <algorithm>
#include <omp.h>

#include "base/blas.h"
#include "sparse_rt/sparse_rt.h"
#include "test_util.h"

namespace sparse_rt {
namespace {

TEST(Runtime, InfoIsConsistent) {
  RuntimeInfo info = runtime_info();
  EXPECT_FALSE(info.version.empty());
  EXPECT_GE(info.num_threads, 1);
  EXPECT_EQ(info.blas_threads, 1);
  EXPECT_NE(std::find(info.isa_built.begin(), info.isa_built.end(), "scalar"), info.isa_built.end());
  EXPECT_NE(std::find(info.isa_available.begin(), info.isa_available.end(), info.isa),
            info.isa_available.end());
}

TEST(Runtime, SetIsaCapsAndRejectsUnknown) {
  const std::string before = current_isa();
  set_isa("scalar");
  EXPECT_EQ(current_isa(), "scalar");
  EXPECT_THROW(set_isa("sse9"), InvalidArgument);
  set_isa(before);
  EXPECT_EQ(current_isa(), before);
}

TEST(Runtime, ThreadCountValidated) {
  const int before = get_num_threads();
  set_num_threads(1);
  EXPECT_EQ(get_num_threads(), 1);
  EXPECT_THROW(set_num_threads(0), InvalidArgument);
  set_num_threads(before);
}

TEST(Blas, StaysSingleThreadedInsideOpenMp) {
  std::vector<float> a(64 * 64, 1.0f), b(64 * 64, 2.0f), c(64 * 64, 0.0f);
#pragma omp parallel num_threads(2)
  {
    if (omp_get_thread_num() == 0)
      base::sgemm(false, false, 64, 64, 64, 1.0f, a.data(), 64, b.data(), 64, 0.0f, c.data(), 64);
  }
  EXPECT_EQ(c[0], 128.0f);
  EXPECT_EQ(base::blas_threads(), 1);
}

TEST(PublicSpmm, MatchesDenseProductUnderEveryIsa) {
  const std::string before = current_isa();
  auto w = testing::random_sparse_dense(37, 53, 0.9, 3);
  CsrMatrix csr = CsrMatrix::from_dense(w.data(), 37, 53);
  const int64_t n = 19;
  auto x = testing::random_dense(53 * n, 4);
  std::vector<float> want(37 * n, 0.0f);
  for (int64_t i = 0; i < 37; ++i)
    for (int64_t k = 0; k < 53; ++k)
      for (int64_t j = 0; j < n; ++j) want[i * n + j] += w[i * 53 + k] * x[k * n + j];
  for (const std::string& isa : runtime_info().isa_available) {
    set_isa(isa);
    std::vector<float> y(37 * n);
    std::string kernel = spmm(csr, x.data(), n, y.data());
    EXPECT_NE(kernel.find(isa == "scalar" ? "reference" : isa), std::string::npos) << kernel;
    EXPECT_LE(testing::max_rel_diff(y, want), 1e-5) << isa;
  }
  set_isa(before);
}

TEST(PublicSpmm, RejectsInvalidMatrix) {
  CsrMatrix bad;
  bad.rows = 2;
  bad.cols = 2;
  bad.indptr = {0, 1, 1};
  bad.indices = {5};
  bad.data = {1.0f};
  std::vector<float> x(4), y(4);
  EXPECT_THROW(spmm(bad, x.data(), 2, y.data()), InvalidArgument);
}

}  // namespace
}  // namespace sparse_rt
