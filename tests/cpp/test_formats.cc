#include <gtest/gtest.h>

#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"
#include "test_util.h"

namespace sparse_rt {
namespace {

TEST(Csr, RoundTripsThroughDense) {
  for (double s : {0.0, 0.5, 0.9, 1.0}) {
    auto a = testing::random_sparse_dense(13, 7, s, 42);
    CsrMatrix m = CsrMatrix::from_dense(a.data(), 13, 7);
    EXPECT_NO_THROW(m.validate());
    EXPECT_EQ(m.to_dense(), a) << "sparsity " << s;
    if (s == 1.0) EXPECT_EQ(m.nnz(), 0);
  }
}

TEST(Csr, ValidateNamesTheBrokenField) {
  auto a = testing::random_sparse_dense(4, 5, 0.3, 1);
  CsrMatrix good = CsrMatrix::from_dense(a.data(), 4, 5);
  ASSERT_GT(good.nnz(), 2);

  CsrMatrix bad = good;
  bad.indices[1] = 5;
  try {
    bad.validate();
    FAIL() << "index out of range accepted";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("out of range"), std::string::npos) << e.what();
  }

  bad = good;
  std::swap(bad.indptr[1], bad.indptr[2]);
  if (bad.indptr[1] != bad.indptr[2]) EXPECT_THROW(bad.validate(), InvalidArgument);

  bad = good;
  bad.indptr.back() += 1;
  EXPECT_THROW(bad.validate(), InvalidArgument);

  bad = good;
  bad.indptr.pop_back();
  EXPECT_THROW(bad.validate(), InvalidArgument);

  bad = good;
  bad.data.pop_back();
  EXPECT_THROW(bad.validate(), InvalidArgument);

  bad = good;
  bad.indices[1] = bad.indices[0];
  if (bad.indptr[1] >= 2) EXPECT_THROW(bad.validate(), InvalidArgument);

  bad = good;
  bad.indices[0] = -1;
  EXPECT_THROW(bad.validate(), InvalidArgument);
}

TEST(Csr, HugeDeclaredColumnCountDoesNotAllocate) {
  CsrMatrix m;
  m.rows = 1;
  m.cols = INT32_MAX;
  m.indptr = {0, 1};
  m.indices = {INT32_MAX - 1};
  m.data = {1.0f};
  EXPECT_NO_THROW(m.validate());
}

TEST(Bsr, RoundTripsThroughDense) {
  const int shapes[][2] = {{1, 4}, {4, 1}, {4, 4}, {8, 1}, {16, 1}};
  for (auto& b : shapes) {
    auto a = testing::random_sparse_dense(32, 16, 0.8, 7);
    BsrMatrix m = BsrMatrix::from_dense(a.data(), 32, 16, b[0], b[1]);
    EXPECT_NO_THROW(m.validate());
    EXPECT_EQ(m.to_dense(), a) << b[0] << "x" << b[1];
  }
}

TEST(Bsr, RejectsBlocksThatDoNotDivide) {
  std::vector<float> a(6 * 6, 1.0f);
  EXPECT_THROW(BsrMatrix::from_dense(a.data(), 6, 6, 4, 4), InvalidArgument);
  EXPECT_THROW(BsrMatrix::from_dense(a.data(), 6, 6, 0, 1), InvalidArgument);
}

}  // namespace
}  // namespace sparse_rt
