// sparse_rt._core.Model / Session: thin wrappers; sparse_rt/model.py is the public face.
#include <pybind11/stl.h>

#include "bindings.h"
#include "sparse_rt/model.h"
#include "sparse_rt/session.h"

namespace sparse_rt::bindings {
namespace {

struct PyModel {
  std::shared_ptr<const Model> model;
};

py::tuple shape_tuple(const std::vector<int64_t>& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i)
    t[i] = s[i] < 0 ? py::object(py::none()) : py::object(py::int_(s[i]));
  return t;
}

py::list specs(const std::vector<ValueSpec>& v) {
  py::list l;
  for (const ValueSpec& s : v) l.append(py::make_tuple(s.name, shape_tuple(s.shape)));
  return l;
}

}  // namespace

void bind_model(py::module_& m) {
  py::class_<PyModel>(m, "Model")
      .def_property_readonly("inputs", [](const PyModel& p) { return specs(p.model->inputs()); })
      .def_property_readonly("outputs", [](const PyModel& p) { return specs(p.model->outputs()); })
      .def_property_readonly("num_threads", [](const PyModel& p) { return p.model->num_threads(); })
      .def_property_readonly("weight_bytes", [](const PyModel& p) { return p.model->weight_bytes(); })
      .def_property_readonly("activation_bytes_per_sample",
                             [](const PyModel& p) { return p.model->activation_bytes_per_sample(); })
      .def("summary", [](const PyModel& p) { return p.model->summary(); })
      .def("report", [](const PyModel& p) {
        py::list rows;
        for (const LayerReport& r : p.model->report()) {
          py::dict d;
          d["name"] = r.name;
          d["op"] = r.op;
          d["fused"] = r.fused;
          d["activation"] = r.activation.empty() ? py::object(py::none()) : py::object(py::str(r.activation));
          py::list ins;
          for (const auto& s : r.input_shapes) ins.append(shape_tuple(s));
          d["input_shapes"] = ins;
          d["output_shape"] = shape_tuple(r.output_shape);
          d["format"] = r.format.empty() ? py::object(py::none()) : py::object(py::str(r.format));
          d["density"] = r.format.empty() ? py::object(py::none()) : py::object(py::float_(r.density));
          d["kernel"] = r.kernel;
          d["dense_flops"] = r.dense_flops;
          d["useful_flops"] = r.useful_flops;
          rows.append(d);
        }
        return rows;
      });

  m.def(
      "load_model",
      [](const std::string& path, int num_threads) {
        LoadOptions opts;
        opts.num_threads = num_threads;
        std::shared_ptr<const Model> model;
        {
          py::gil_scoped_release release;
          model = Model::load(path, opts);
        }
        return PyModel{std::move(model)};
      },
      py::arg("path"), py::arg("num_threads") = 0);

  py::class_<Session>(m, "Session")
      .def(py::init([](const PyModel& p) { return new Session(p.model); }), py::arg("model"))
      .def("set_profiling", &Session::set_profiling, py::arg("on"))
      .def("last_profile", [](const Session& s) {
        const RunProfile& p = s.last_profile();
        return py::make_tuple(p.total_ms, p.layer_ms);
      })
      // arrays: float32, C-contiguous (checked by sparse_rt/model.py; re-checked here).
      .def("run", [](Session& s, const std::vector<F32Array>& arrays) {
        std::vector<Tensor> ins;
        for (const F32Array& a : arrays) {
          // array_t<float, c_style> does not imply alignment: a float32 view at an odd byte
          // offset would reach the kernels as a misaligned float* (undefined behaviour).
          if (!(a.flags() & py::detail::npy_api::NPY_ARRAY_ALIGNED_))
            throw py::value_error("input array is not aligned to 4 bytes (float32)");
          std::vector<int64_t> shape(a.shape(), a.shape() + a.ndim());
          ins.push_back(Tensor::view(a.data(), std::move(shape)));
        }
        const int64_t batch = s.validate_inputs(ins);
        std::vector<F32Array> outs;
        std::vector<Tensor> out_views;
        for (const auto& shape : s.output_shapes(batch)) {
          outs.emplace_back(std::vector<py::ssize_t>(shape.begin(), shape.end()));
          out_views.push_back(Tensor::view(outs.back().mutable_data(), shape));
        }
        {
          py::gil_scoped_release release;
          s.run(ins, out_views);
        }
        py::list l;
        for (F32Array& o : outs) l.append(o);
        return l;
      }, py::arg("inputs"));
}

}  // namespace sparse_rt::bindings
