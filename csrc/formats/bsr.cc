#include "formats/validate.h"
#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

void check_blocking(int64_t rows, int64_t cols, int32_t r, int32_t c, const char* who) {
  if (rows < 0 || cols < 0)
    throw InvalidArgument(std::string(who) + ": shape is negative");
  if (r < 1 || c < 1)
    throw InvalidArgument(std::string(who) + ": blocksize (" + std::to_string(r) + ", " +
                          std::to_string(c) + ") must be positive");
  if (rows % r != 0 || cols % c != 0)
    throw InvalidArgument(std::string(who) + ": blocksize (" + std::to_string(r) + ", " +
                          std::to_string(c) + ") does not divide shape (" + std::to_string(rows) +
                          ", " + std::to_string(cols) + ")");
}

}  // namespace

double BsrMatrix::density() const {
  double total = static_cast<double>(rows) * static_cast<double>(cols);
  return total > 0 ? static_cast<double>(data.size()) / total : 0.0;
}

void BsrMatrix::validate() const {
  check_blocking(rows, cols, block_rows, block_cols, "BSR");
  const int64_t bsize = int64_t{block_rows} * block_cols;
  if (static_cast<int64_t>(data.size()) != num_blocks() * bsize)
    throw InvalidArgument("BSR: data has " + std::to_string(data.size()) + " values, expected " +
                          std::to_string(num_blocks()) + " blocks x " + std::to_string(bsize));
  if (indptr.empty()) throw InvalidArgument("BSR: indptr is empty, expected rows/r + 1 entries");
  formats::validate_compressed("BSR", rows / block_rows, cols / block_cols, indptr.data(),
                               static_cast<int64_t>(indptr.size()), indices.data(), num_blocks());
}

BsrMatrix BsrMatrix::from_dense(const float* a, int64_t rows, int64_t cols, int32_t r, int32_t c) {
  check_blocking(rows, cols, r, c, "BSR.from_dense");
  BsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.block_rows = r;
  m.block_cols = c;
  m.indptr.push_back(0);
  for (int64_t bi = 0; bi < rows / r; ++bi) {
    for (int64_t bj = 0; bj < cols / c; ++bj) {
      bool any = false;
      for (int64_t i = 0; i < r && !any; ++i)
        for (int64_t j = 0; j < c; ++j)
          if (a[(bi * r + i) * cols + bj * c + j] != 0.0f) { any = true; break; }
      if (!any) continue;
      m.indices.push_back(static_cast<int32_t>(bj));
      for (int64_t i = 0; i < r; ++i)
        for (int64_t j = 0; j < c; ++j) m.data.push_back(a[(bi * r + i) * cols + bj * c + j]);
    }
    m.indptr.push_back(static_cast<int32_t>(m.indices.size()));
  }
  return m;
}

std::vector<float> BsrMatrix::to_dense() const {
  validate();
  std::vector<float> out(static_cast<size_t>(rows * cols), 0.0f);
  const int64_t bsize = int64_t{block_rows} * block_cols;
  for (int64_t bi = 0; bi < rows / block_rows; ++bi)
    for (int32_t p = indptr[bi]; p < indptr[bi + 1]; ++p)
      for (int64_t i = 0; i < block_rows; ++i)
        for (int64_t j = 0; j < block_cols; ++j)
          out[(bi * block_rows + i) * cols + int64_t{indices[p]} * block_cols + j] =
              data[p * bsize + i * block_cols + j];
  return out;
}

}  // namespace sparse_rt
