#include <exception>

#include "bindings.h"
#include "sparse_rt/status.h"

namespace sparse_rt::bindings {

void register_errors(py::module_& m) {
  (void)m;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const sparse_rt::ModelFormatError& e) {
      // The Python class lives in sparse_rt.format (numpy-only), so one class serves both sides.
      py::object cls = py::module_::import("sparse_rt.format").attr("ModelFormatError");
      PyErr_SetString(cls.ptr(), e.what());
    } catch (const sparse_rt::InvalidArgument& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const sparse_rt::Error& e) {
      PyErr_SetString(PyExc_RuntimeError, e.what());
    }
  });
}

}  // namespace sparse_rt::bindings
