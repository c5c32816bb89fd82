#include "formats/validate.h"
#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"

namespace sparse_rt {

double CsrMatrix::density() const {
  double total = static_cast<double>(rows) * static_cast<double>(cols);
  return total > 0 ? static_cast<double>(nnz()) / total : 0.0;
}

void CsrMatrix::validate() const {
  if (rows < 0 || cols < 0)
    throw InvalidArgument("CSR: shape (" + std::to_string(rows) + ", " + std::to_string(cols) +
                          ") is negative");
  if (indices.size() != data.size())
    throw InvalidArgument("CSR: indices has " + std::to_string(indices.size()) +
                          " entries but data has " + std::to_string(data.size()));
  if (indptr.empty()) throw InvalidArgument("CSR: indptr is empty, expected rows + 1 entries");
  formats::validate_compressed("CSR", rows, cols, indptr.data(),
                               static_cast<int64_t>(indptr.size()), indices.data(), nnz());
}

CsrMatrix CsrMatrix::from_dense(const float* a, int64_t rows, int64_t cols) {
  if (rows < 0 || cols < 0 || cols > INT32_MAX)
    throw InvalidArgument("CSR.from_dense: bad shape");
  CsrMatrix m;
  m.rows = rows;
  m.cols = cols;
  m.indptr.reserve(static_cast<size_t>(rows) + 1);
  m.indptr.push_back(0);
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float v = a[i * cols + j];
      if (v != 0.0f) {
        m.data.push_back(v);
        m.indices.push_back(static_cast<int32_t>(j));
      }
    }
    if (m.data.size() > static_cast<size_t>(INT32_MAX))
      throw InvalidArgument("CSR.from_dense: more than 2^31-1 non-zeros");
    m.indptr.push_back(static_cast<int32_t>(m.data.size()));
  }
  return m;
}

std::vector<float> CsrMatrix::to_dense() const {
  validate();
  std::vector<float> out(static_cast<size_t>(rows * cols), 0.0f);
  for (int64_t i = 0; i < rows; ++i)
    for (int32_t p = indptr[i]; p < indptr[i + 1]; ++p) out[i * cols + indices[p]] = data[p];
  return out;
}

}  // namespace sparse_rt
