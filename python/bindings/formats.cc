#include "bindings.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::bindings {

Activation parse_activation(const std::string& name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "relu6") return Activation::kRelu6;
  throw py::value_error("activation='" + name + "' is not one of: none, relu, relu6");
}

CsrMatrix csr_from_arrays(const F32Array& data, const I32Array& indices, const I32Array& indptr,
                          int64_t rows, int64_t cols) {
  return CsrMatrix{rows, cols, to_vector(data, "data"), to_vector(indices, "indices"),
                   to_vector(indptr, "indptr")};
}

void bind_formats(py::module_& m) {
  m.def(
      "validate_csr",
      [](const F32Array& data, const I32Array& indices, const I32Array& indptr, int64_t rows,
         int64_t cols) {
        CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
        w.validate();
      },
      py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"), py::arg("cols"));
  m.def(
      "validate_bsr",
      [](const F32Array& data, const I32Array& indices, const I32Array& indptr, int64_t rows,
         int64_t cols, int32_t r, int32_t c) {
        if (data.ndim() != 3 || data.shape(1) != r || data.shape(2) != c)
          throw py::value_error("BSR: data must have shape (nblocks, " + std::to_string(r) + ", " +
                                std::to_string(c) + ")");
        BsrMatrix w{rows, cols, r, c, std::vector<float>(data.data(), data.data() + data.size()),
                    to_vector(indices, "indices"), to_vector(indptr, "indptr")};
        w.validate();
      },
      py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"), py::arg("cols"),
      py::arg("block_rows"), py::arg("block_cols"));
}

}  // namespace sparse_rt::bindings
