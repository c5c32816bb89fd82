// Sparse fully-connected layers (ops/fc.h): CsrLinear and BsrLinear. Shapes are re-checked here;
// the GIL is released while the kernels run.
#include "base/threads.h"
#include "bindings.h"
#include "ops/fc.h"

namespace sparse_rt::bindings {
namespace {

Activation parse_activation(const std::string& name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kRelu;
  if (name == "relu6") return Activation::kRelu6;
  throw py::value_error("activation='" + name + "' is not one of: none, relu, relu6");
}

template <typename Op>
F32Array run_linear(const Op& op, const F32Array& x) {
  if (x.ndim() != 2 || x.shape(1) != op.cols())
    throw py::value_error("x must have shape (N, " + std::to_string(op.cols()) + ")");
  const int64_t n = x.shape(0);
  F32Array y({n, op.rows()});
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int threads = base::num_threads();
  py::gil_scoped_release release;
  op.linear(xp, n, yp, threads);
  return y;
}

}  // namespace

void bind_fc(py::module_& m) {
  py::class_<ops::CsrLinear>(m, "CsrLinear")
      .def(py::init([](const F32Array& data, const I32Array& indices, const I32Array& indptr,
                       int64_t rows, int64_t cols, const F32Array& bias,
                       const std::string& activation) {
             CsrMatrix w{rows, cols, to_vector(data, "data"), to_vector(indices, "indices"),
                         to_vector(indptr, "indptr")};
             return new ops::CsrLinear(w, to_vector(bias, "bias"), parse_activation(activation));
           }),
           py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"),
           py::arg("cols"), py::arg("bias"), py::arg("activation"))
      .def("kernel_for", &ops::CsrLinear::kernel_name, py::arg("n"))
      .def_property_readonly("isa", [](const ops::CsrLinear& op) { return base::isa_name(op.isa()); })
      .def_property_readonly("shape", [](const ops::CsrLinear& op) {
        return py::make_tuple(op.rows(), op.cols());
      })
      .def("linear", &run_linear<ops::CsrLinear>, py::arg("x"));

  py::class_<ops::BsrLinear>(m, "BsrLinear")
      .def(py::init([](const F32Array& data, const I32Array& indices, const I32Array& indptr,
                       int64_t rows, int64_t cols, int32_t br, int32_t bc, const F32Array& bias,
                       const std::string& activation) {
             if (data.ndim() != 3 || data.shape(1) != br || data.shape(2) != bc)
               throw py::value_error("BSR: data must have shape (nblocks, " + std::to_string(br) +
                                     ", " + std::to_string(bc) + ")");
             BsrMatrix w{rows, cols, br, bc,
                         std::vector<float>(data.data(), data.data() + data.size()),
                         to_vector(indices, "indices"), to_vector(indptr, "indptr")};
             return new ops::BsrLinear(w, to_vector(bias, "bias"), parse_activation(activation));
           }),
           py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"),
           py::arg("cols"), py::arg("block_rows"), py::arg("block_cols"), py::arg("bias"),
           py::arg("activation"))
      .def("kernel_for", &ops::BsrLinear::kernel_name, py::arg("n"))
      .def_property_readonly("isa", [](const ops::BsrLinear& op) { return base::isa_name(op.isa()); })
      .def_property_readonly("shape", [](const ops::BsrLinear& op) {
        return py::make_tuple(op.rows(), op.cols());
      })
      .def("linear", &run_linear<ops::BsrLinear>, py::arg("x"));

  m.def("bsr_block_shapes", [] {
    py::list out;
    for (const auto& s : dispatch::bsr_block_shapes()) out.append(py::make_tuple(s.first, s.second));
    return out;
  });

  // Kernel lists, for tests and benchmarks: (name, isa, usable here).
  m.def("fc_kernels", [] {
    py::list out;
    auto add = [&](const char* family, const char* name, base::Isa isa, py::dict extra) {
      extra["family"] = family;
      extra["name"] = name;
      extra["isa"] = base::isa_name(isa);
      extra["usable"] = base::isa_usable(isa);
      out.append(extra);
    };
    for (const auto& k : dispatch::csrmm_kernels()) {
      py::dict d; d["mr"] = k.mr; d["nr"] = k.nr;
      add("csrmm", k.name, k.isa, d);
    }
    for (const auto& k : dispatch::csrmv_kernels()) {
      py::dict d; d["index_bits"] = k.index_bits;
      add("csrmv", k.name, k.isa, d);
    }
    for (const auto& k : dispatch::bsrmm_kernels()) {
      py::dict d; d["block"] = py::make_tuple(k.br, k.bc); d["mr"] = k.mr; d["nr"] = k.nr;
      add("bsrmm", k.name, k.isa, d);
    }
    return out;
  });
}

}  // namespace sparse_rt::bindings
