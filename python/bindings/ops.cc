#include "base/threads.h"
#include "bindings.h"
#include "ops/linear.h"

namespace sparse_rt::bindings {
namespace {

void check_2d(const F32Array& a, int64_t cols, const char* what, const char* expected) {
  if (a.ndim() != 2 || a.shape(1) != cols)
    throw py::value_error(std::string(what) + " must have shape " + expected + " with " +
                          std::to_string(cols) + " columns");
}

}  // namespace

void bind_ops(py::module_& m) {
  py::class_<ops::CsrMatmul>(m, "CsrMatmul")
      .def(py::init([](const F32Array& data, const I32Array& indices, const I32Array& indptr,
                       int64_t rows, int64_t cols, const F32Array& bias,
                       const std::string& activation) {
             CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
             return new ops::CsrMatmul(std::move(w), to_vector(bias, "bias"),
                                       parse_activation(activation));
           }),
           py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"),
           py::arg("cols"), py::arg("bias"), py::arg("activation"))
      .def_property_readonly("kernel", &ops::CsrMatmul::kernel_name)
      .def_property_readonly("shape", [](const ops::CsrMatmul& op) {
        return py::make_tuple(op.rows(), op.cols());
      })
      .def("matmul",
           [](const ops::CsrMatmul& op, const F32Array& x) {
             if (x.ndim() != 2 || x.shape(0) != op.cols())
               throw py::value_error("x must have shape (" + std::to_string(op.cols()) +
                                     ", n) for W @ x");
             const int64_t n = x.shape(1);
             F32Array y({op.rows(), n});
             const float* xp = x.data();
             float* yp = y.mutable_data();
             const int threads = base::num_threads();
             py::gil_scoped_release release;
             op.matmul(xp, n, yp, threads);
             return y;
           })
      .def("linear", [](const ops::CsrMatmul& op, const F32Array& x) {
        check_2d(x, op.cols(), "x", "(n, K)");
        const int64_t n = x.shape(0);
        F32Array y({n, op.rows()});
        const float* xp = x.data();
        float* yp = y.mutable_data();
        const int threads = base::num_threads();
        py::gil_scoped_release release;
        op.linear(xp, n, yp, threads);
        return y;
      });

  py::class_<ops::DenseLinear>(m, "DenseLinear")
      .def(py::init([](const F32Array& w, const F32Array& bias, const std::string& activation) {
             if (w.ndim() != 2) throw py::value_error("weight must be 2-D (M, K)");
             return new ops::DenseLinear(std::vector<float>(w.data(), w.data() + w.size()),
                                         w.shape(0), w.shape(1), to_vector(bias, "bias"),
                                         parse_activation(activation));
           }),
           py::arg("weight"), py::arg("bias"), py::arg("activation"))
      .def_property_readonly("kernel", [](const ops::DenseLinear& op) { return op.kernel_name(1); })
      .def_property_readonly("shape", [](const ops::DenseLinear& op) {
        return py::make_tuple(op.rows(), op.cols());
      })
      .def("linear", [](const ops::DenseLinear& op, const F32Array& x) {
        check_2d(x, op.cols(), "x", "(n, K)");
        const int64_t n = x.shape(0);
        F32Array y({n, op.rows()});
        const float* xp = x.data();
        float* yp = y.mutable_data();
        const int threads = base::num_threads();
        py::gil_scoped_release release;
        op.linear(xp, n, yp, threads);
        return y;
      });
}

}  // namespace sparse_rt::bindings
