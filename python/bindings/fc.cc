// Sparse fully-connected layers (ops/fc.h): CsrLinear and BsrLinear. Shapes are re-checked here;
// the GIL is released while the kernels run.
#include <time.h>

#include <algorithm>
#include <limits>

#include "base/threads.h"
#include "bindings.h"
#include "ops/fc.h"

namespace sparse_rt::bindings {
namespace {

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

// Runs f() `repeat` times (>= 1); returns the smallest thread CPU time in seconds.
template <typename F>
double timed(int repeat, F f) {
  double best = std::numeric_limits<double>::infinity();
  for (int r = 0; r < std::max(1, repeat); ++r) {
    timespec t0, t1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
    f();
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
    best = std::min(best, (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec));
  }
  return best;
}

}  // namespace

void bind_fc(py::module_& m) {
  py::class_<ops::CsrLinear>(m, "CsrLinear")
      .def(py::init([](const F32Array& data, const I32Array& indices, const I32Array& indptr,
                       int64_t rows, int64_t cols, const F32Array& bias,
                       const std::string& activation) {
             CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
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

  // Run one kernel of a list by name on canonical arrays (tests and per-kernel benchmarks):
  // returns (y, best thread-CPU seconds over `repeat` runs). The matrix is validated first; a
  // kernel whose ISA this CPU lacks raises ValueError.
  m.def(
      "fc_kernel_run",
      [](const std::string& name, const F32Array& data, const I32Array& indices,
         const I32Array& indptr, int64_t rows, int64_t cols, const F32Array& x,
         const F32Array& bias, float out_min, float out_max, int repeat) -> py::tuple {
        double secs = 0.0;
        auto check_isa = [&](base::Isa isa) {
          if (!base::isa_usable(isa))
            throw py::value_error("kernel " + name + " needs ISA " + base::isa_name(isa) +
                                  ", not usable on this CPU");
        };
        auto check_x = [&](int64_t k) {
          if (x.ndim() != 2 || x.shape(0) != k)
            throw py::value_error("x must have shape (" + std::to_string(k) + ", n)");
        };
        if (bias.size() != 0 && bias.size() != rows)
          throw py::value_error("bias must be empty or have " + std::to_string(rows) + " values");
        const float* b = bias.size() ? bias.data() : nullptr;
        for (const auto& k : dispatch::csrmm_kernels()) {
          if (name != k.name) continue;
          check_isa(k.isa);
          CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
          w.validate();
          check_x(cols);
          const int64_t n = x.shape(1);
          F32Array y({rows, n});
          const float* xp = x.data();
          float* yp = y.mutable_data();
          {
            py::gil_scoped_release release;
            secs = timed(repeat, [&] {
              k.fn(rows, n, w.indptr.data(), w.indices.data(), 32, w.data.data(), xp, n, b, yp, n,
                   out_min, out_max);
            });
          }
          return py::make_tuple(y, secs);
        }
        for (const auto& k : dispatch::csrmv_kernels()) {
          if (name != k.name) continue;
          check_isa(k.isa);
          CsrMatrix w = csr_from_arrays(data, indices, indptr, rows, cols);
          w.validate();
          check_x(cols);
          if (x.shape(1) != 1) throw py::value_error("csrmv kernels take x of shape (K, 1)");
          if (k.index_bits == 16 && cols > 65536)
            throw py::value_error("16-bit csrmv kernels need at most 65536 columns");
          std::vector<uint16_t> idx16(w.indices.begin(), w.indices.end());
          const void* idx = k.index_bits == 16 ? static_cast<const void*>(idx16.data())
                                               : static_cast<const void*>(w.indices.data());
          F32Array y({rows, int64_t{1}});
          const float* xp = x.data();
          float* yp = y.mutable_data();
          {
            py::gil_scoped_release release;
            secs = timed(repeat, [&] {
              k.fn(rows, w.indptr.data(), idx, w.data.data(), xp, b, yp, out_min, out_max);
            });
          }
          return py::make_tuple(y, secs);
        }
        for (const auto& k : dispatch::bsrmm_kernels()) {
          if (name != k.name) continue;
          check_isa(k.isa);
          if (data.ndim() != 3 || data.shape(1) != k.br || data.shape(2) != k.bc)
            throw py::value_error("data must have shape (nblocks, " + std::to_string(k.br) + ", " +
                                  std::to_string(k.bc) + ")");
          BsrMatrix w{rows, cols, k.br, k.bc,
                      std::vector<float>(data.data(), data.data() + data.size()),
                      to_vector(indices, "indices"), to_vector(indptr, "indptr")};
          w.validate();
          check_x(cols);
          const int64_t n = x.shape(1);
          if (k.nr == 1 && k.isa != base::Isa::kScalar && n != 1)
            throw py::value_error("batch-1 kernel " + name + " takes x of shape (K, 1)");
          F32Array y({rows, n});
          const float* xp = x.data();
          float* yp = y.mutable_data();
          {
            py::gil_scoped_release release;
            secs = timed(repeat, [&] {
              k.fn(rows / k.br, n, w.indptr.data(), w.indices.data(), w.data.data(), xp, n, b, yp,
                   n, out_min, out_max);
            });
          }
          return py::make_tuple(y, secs);
        }
        throw py::value_error("no FC kernel named '" + name + "'");
      },
      py::arg("name"), py::arg("data"), py::arg("indices"), py::arg("indptr"), py::arg("rows"),
      py::arg("cols"), py::arg("x"), py::arg("bias"), py::arg("out_min"), py::arg("out_max"), py::arg("repeat") = 1);

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
