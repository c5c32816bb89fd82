// sparse_rt._core: the narrow compiled surface under the public Python package. Arrays arrive
// already checked for dtype/contiguity by the Python layer; shapes are re-checked here because
// the C++ side must never trust its caller with memory.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.h"
#include "sparse_rt/runtime.h"
#include "sparse_rt/status.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "sparse_rt compiled core (private; use the sparse_rt package)";
  sparse_rt::bindings::register_errors(m);

  m.def("_init", [] {
    // Reads SPARSE_RT_ISA and SPARSE_RT_NUM_THREADS now, so a bad value fails at import.
    sparse_rt::current_isa();
    sparse_rt::get_num_threads();
  });
  m.def("runtime_info", [] {
    sparse_rt::RuntimeInfo info = sparse_rt::runtime_info();
    py::dict d;
    d["version"] = info.version;
    d["isa"] = info.isa;
    d["isa_available"] = info.isa_available;
    d["isa_built"] = info.isa_built;
    d["num_threads"] = info.num_threads;
    d["openmp"] = info.openmp;
    d["blas"] = info.blas;
    d["blas_threads"] = info.blas_threads;
    d["cpu"] = info.cpu;
    return d;
  });
  m.def("set_isa", &sparse_rt::set_isa, py::arg("isa"));
  m.def("current_isa", &sparse_rt::current_isa);
  m.def("set_num_threads", &sparse_rt::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &sparse_rt::get_num_threads);

  sparse_rt::bindings::bind_formats(m);
  sparse_rt::bindings::bind_ops(m);
  sparse_rt::bindings::bind_model(m);
  sparse_rt::bindings::bind_conv(m);
  sparse_rt::bindings::bind_fc(m);
}
