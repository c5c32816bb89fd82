// Pieces of the _core module, one function per source file.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sparse_rt/ops.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::bindings {

namespace py = pybind11;
using F32Array = py::array_t<float, py::array::c_style>;
using I32Array = py::array_t<int32_t, py::array::c_style>;

void register_errors(py::module_& m);
void bind_formats(py::module_& m);
void bind_ops(py::module_& m);
void bind_model(py::module_& m);
void bind_conv(py::module_& m);
void bind_fc(py::module_& m);

// "none" | "relu" | "relu6" (the kernels' clamp); anything else raises ValueError.
Activation parse_activation(const std::string& name);

// A canonical CSR copied from scipy-named arrays (not validated: the ops validate).
CsrMatrix csr_from_arrays(const F32Array& data, const I32Array& indices, const I32Array& indptr,
                          int64_t rows, int64_t cols);

// Copies a contiguous 1-D array; throws InvalidArgument naming `what` on a wrong rank.
template <typename T>
std::vector<T> to_vector(const py::array_t<T, py::array::c_style>& a, const char* what) {
  if (a.ndim() != 1)
    throw py::value_error(std::string(what) + " must be 1-D, got " + std::to_string(a.ndim()) +
                          " dimensions");
  return std::vector<T>(a.data(), a.data() + a.size());
}

}  // namespace sparse_rt::bindings
