#include "kernels/spmv/pack.h"

#include <algorithm>
#include <numeric>

#include "base/memory.h"

namespace sparse_rt::kernels {
namespace {

// Order of the entries [p0, p1) by index.
std::vector<int32_t> sorted_order(const int32_t* indices, int32_t p0, int32_t p1) {
  std::vector<int32_t> order(static_cast<size_t>(p1 - p0));
  std::iota(order.begin(), order.end(), p0);
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return indices[a] < indices[b]; });
  return order;
}

// v sized to n elements, its storage advised for huge pages before it is first written: the
// packed streams are large and read once per call (4096² at s = 0.5 is 64 MB).
template <typename T>
void resize_huge(std::vector<T>* v, size_t n) {
  v->clear();
  v->shrink_to_fit();
  v->reserve(n);
  base::advise_huge_pages(v->data(), n * sizeof(T));
  v->resize(n);
}

}  // namespace

CsrMatrix sort_csr_rows(const CsrMatrix& w) {
  CsrMatrix out;
  out.rows = w.rows;
  out.cols = w.cols;
  out.indptr = w.indptr;
  resize_huge(&out.indices, w.indices.size());
  resize_huge(&out.data, w.data.size());
  for (int64_t i = 0; i < w.rows; ++i) {
    const int32_t p0 = w.indptr[i], p1 = w.indptr[i + 1];
    if (std::is_sorted(w.indices.begin() + p0, w.indices.begin() + p1)) {
      std::copy(w.indices.begin() + p0, w.indices.begin() + p1, out.indices.begin() + p0);
      std::copy(w.data.begin() + p0, w.data.begin() + p1, out.data.begin() + p0);
      continue;
    }
    int32_t q = p0;
    for (int32_t p : sorted_order(w.indices.data(), p0, p1)) {
      out.indices[q] = w.indices[p];
      out.data[q++] = w.data[p];
    }
  }
  return out;
}

BsrMatrix sort_bsr_rows(const BsrMatrix& w) {
  BsrMatrix out = w;
  const int64_t bs = int64_t{w.block_rows} * w.block_cols;
  const int64_t mb = w.block_rows ? w.rows / w.block_rows : 0;
  for (int64_t i = 0; i < mb; ++i) {
    const int32_t p0 = w.indptr[i], p1 = w.indptr[i + 1];
    if (std::is_sorted(w.indices.begin() + p0, w.indices.begin() + p1)) continue;
    int32_t q = p0;
    for (int32_t p : sorted_order(w.indices.data(), p0, p1)) {
      out.indices[q] = w.indices[p];
      std::copy(w.data.begin() + p * bs, w.data.begin() + (p + 1) * bs, out.data.begin() + q * bs);
      ++q;
    }
  }
  return out;
}

void pack_csrmv(const CsrMatrix& w, PackedCsrmv* out) {
  CsrMatrix s = sort_csr_rows(w);
  out->rows = s.rows;
  out->cols = s.cols;
  out->indptr = std::move(s.indptr);
  out->values = std::move(s.data);
  out->idx16.clear();
  out->idx32.clear();
  if (s.cols <= 65536) {
    out->index_bits = 16;
    resize_huge(&out->idx16, s.indices.size());
    std::copy(s.indices.begin(), s.indices.end(), out->idx16.begin());  // each in [0, 65535]
  } else {
    out->index_bits = 32;
    out->idx32 = std::move(s.indices);
  }
}

}  // namespace sparse_rt::kernels
