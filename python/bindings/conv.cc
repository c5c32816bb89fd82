// Convolution ops: DirectConv2d (sparse_rt's spconv kernels: CSR, BSR, dense blocks, depthwise)
// and DnnlConv2d (oneDNN dense), plus the kernel list for tests and benchmarks.
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>

#include "base/threads.h"
#include "bindings.h"
#include "dispatch/registry.h"
#include "ops/conv.h"

namespace sparse_rt::bindings {
namespace {

using Geometry = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                            int64_t, int64_t, std::string>;

ops::ConvParams to_params(const Geometry& g) {
  ops::ConvParams p;
  std::string act;
  std::tie(p.out_channels, p.in_channels, p.kh, p.kw, p.stride_h, p.stride_w, p.pad_h, p.pad_w,
           p.groups, act) = g;
  if (act == "none") p.act = Activation::kNone;
  else if (act == "relu") p.act = Activation::kRelu;
  else if (act == "relu6") p.act = Activation::kRelu6;
  else throw py::value_error("activation='" + act + "' is not one of: none, relu, relu6");
  p.validate();
  return p;
}

// residual: None or an array shaped like the output, added before the activation.
template <typename Op>
F32Array run_conv(const Op& op, const F32Array& x, const std::optional<F32Array>& residual) {
  const ops::ConvParams& p = op.params();
  if (x.ndim() != 4)
    throw py::value_error("x must be 4-D (N, " + std::to_string(p.in_channels) +
                          ", H, W), got " + std::to_string(x.ndim()) + " dimensions");
  const int64_t n = x.shape(0), h = x.shape(2), w = x.shape(3);
  p.check_input(n, x.shape(1), h, w);
  F32Array y({n, p.out_channels, p.out_h(h), p.out_w(w)});
  const float* rp = nullptr;
  if (residual) {
    const F32Array& r = *residual;
    if (r.ndim() != 4 || r.shape(0) != n || r.shape(1) != p.out_channels ||
        r.shape(2) != p.out_h(h) || r.shape(3) != p.out_w(w))
      throw py::value_error("residual must have the output's shape (" + std::to_string(n) +
                            ", " + std::to_string(p.out_channels) + ", " +
                            std::to_string(p.out_h(h)) + ", " + std::to_string(p.out_w(w)) + ")");
    rp = r.data();
  }
  const float* xp = x.data();
  float* yp = y.mutable_data();
  const int threads = base::num_threads();
  py::gil_scoped_release release;
  op.run(xp, n, h, w, yp, threads, rp);
  return y;
}

template <typename Op>
py::tuple out_shape(const Op& op, int64_t n, int64_t h, int64_t w) {
  const ops::ConvParams& p = op.params();
  p.check_input(n, p.in_channels, h, w);
  return py::make_tuple(n, p.out_channels, p.out_h(h), p.out_w(w));
}

}  // namespace

void bind_conv(py::module_& m) {
  py::class_<ops::DirectConv2d>(m, "DirectConv2d")
      .def_static(
          "from_csr",
          [](const F32Array& data, const I32Array& indices, const I32Array& indptr, int64_t rows,
             int64_t cols, const Geometry& geom, const F32Array& bias) {
            CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
            return std::make_unique<ops::DirectConv2d>(w, to_params(geom), to_vector(bias, "bias"));
          },
          py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"), py::arg("cols"),
          py::arg("geometry"), py::arg("bias"))
      .def_static(
          "from_bsr",
          [](const F32Array& data, const I32Array& indices, const I32Array& indptr, int64_t rows,
             int64_t cols, int32_t r, int32_t c, const Geometry& geom, const F32Array& bias) {
            if (data.ndim() != 3 || data.shape(1) != r || data.shape(2) != c)
              throw py::value_error("BSR: data must have shape (nblocks, " + std::to_string(r) +
                                    ", " + std::to_string(c) + ")");
            BsrMatrix w{rows, cols, r, c,
                        std::vector<float>(data.data(), data.data() + data.size()),
                        to_vector(indices, "indices"), to_vector(indptr, "indptr")};
            return std::make_unique<ops::DirectConv2d>(w, to_params(geom), to_vector(bias, "bias"));
          },
          py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"), py::arg("cols"),
          py::arg("block_rows"), py::arg("block_cols"), py::arg("geometry"), py::arg("bias"))
      .def_static(
          "from_dense",
          [](const F32Array& w, const Geometry& geom, const F32Array& bias) {
            const ops::ConvParams p = to_params(geom);
            if (w.ndim() != 2 || w.shape(0) != p.out_channels || w.shape(1) != p.cols())
              throw py::value_error("weight must have shape (" + std::to_string(p.out_channels) +
                                    ", " + std::to_string(p.cols()) + ")");
            return ops::DirectConv2d::dense(w.data(), p, to_vector(bias, "bias"));
          },
          py::arg("weight"), py::arg("geometry"), py::arg("bias"))
      .def_property_readonly("kernel", [](const ops::DirectConv2d& op) { return op.kernel_name(); })
      .def_property_readonly("rows_per_group", &ops::DirectConv2d::rows_per_group)
      .def_property_readonly("stored", &ops::DirectConv2d::stored)
      .def("output_shape", &out_shape<ops::DirectConv2d>, py::arg("n"), py::arg("h"), py::arg("w"))
      .def(
          "layout",
          [](const ops::DirectConv2d& op, int64_t h, int64_t w) {
            const ops::DirectConv2d::Layout l = op.layout(h, w);
            py::dict d;
            d["kernel"] = l.kernel;
            d["copy"] = l.copy;
            d["row_pitch"] = l.row_pitch;
            d["shifts"] = l.shifts;
            d["channel_blocks"] = l.channel_blocks;
            return d;
          },
          py::arg("h"), py::arg("w"))
      .def("__call__", &run_conv<ops::DirectConv2d>, py::arg("x"),
           py::arg("residual") = py::none());

  py::class_<ops::DnnlConv2d>(m, "DnnlConv2d")
      .def(py::init([](const F32Array& w, const Geometry& geom, const F32Array& bias) {
             const ops::ConvParams p = to_params(geom);
             if (w.ndim() != 2 || w.shape(0) != p.out_channels || w.shape(1) != p.cols())
               throw py::value_error("weight must have shape (" + std::to_string(p.out_channels) +
                                     ", " + std::to_string(p.cols()) + ")");
             return new ops::DnnlConv2d(w.data(), p, to_vector(bias, "bias"));
           }),
           py::arg("weight"), py::arg("geometry"), py::arg("bias"))
      .def_property_readonly("kernel", &ops::DnnlConv2d::kernel_name)
      .def("implementation", &ops::DnnlConv2d::implementation, py::arg("n"), py::arg("h"),
           py::arg("w"), py::arg("threads") = 1,
           "oneDNN's name for the implementation it picks for this input (ref:* is its slow "
           "reference kernel)")
      .def("output_shape", &out_shape<ops::DnnlConv2d>, py::arg("n"), py::arg("h"), py::arg("w"))
      .def("__call__", &run_conv<ops::DnnlConv2d>, py::arg("x"),
           py::arg("residual") = py::none());

  m.def("have_onednn", &ops::have_onednn);
  m.def("prefer_onednn", [](const Geometry& geom) { return ops::prefer_onednn(to_params(geom)); },
        py::arg("geometry"));
  m.def("spconv_kernels", [] {
    py::list out;
    for (const auto& k : dispatch::spconv_kernels())
      out.append(py::make_tuple(k.name, base::isa_name(k.isa), k.mr, k.nr));
    return out;
  });
  m.def("dwconv_kernels", [] {
    py::list out;
    for (const auto& k : dispatch::dwconv_kernels())
      out.append(py::make_tuple(k.name, base::isa_name(k.isa)));
    return out;
  });
}

}  // namespace sparse_rt::bindings
