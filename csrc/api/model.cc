#include "sparse_rt/model.h"

#include <chrono>
#include <cstdio>

#include "api/model_impl.h"
#include "base/isa.h"
#include "base/threads.h"
#include "io/model_reader.h"
#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i)
    r += (i ? ", " : "") + (s[i] < 0 ? std::string("N") : std::to_string(s[i]));
  return r + "]";
}

std::string human(double v, const char* unit) {
  const char* pre[] = {"", "K", "M", "G", "T"};
  int k = 0;
  while (v >= 1000 && k < 4) { v /= 1000; ++k; }
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.3g %s%s", v, pre[k], unit);
  return buf;
}

}  // namespace

Model::Model(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Model::~Model() = default;

std::shared_ptr<const Model> Model::load(const std::string& path, const LoadOptions& options) {
  if (options.num_threads < 0 || options.num_threads > 4096)
    throw InvalidArgument("num_threads must be from 0 (default) to 4096, got " +
                          std::to_string(options.num_threads));
  const auto t0 = std::chrono::steady_clock::now();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->num_threads = options.num_threads;
  impl->isa = base::isa_name(base::active_isa());
  graph::Graph g = io::read_model(path);
  auto spec = [&](int v, const std::string& name) {
    ValueSpec s;
    s.name = name;
    s.shape.push_back(g.fixed_batch ? g.fixed_batch : -1);
    s.shape.insert(s.shape.end(), g.values[v].dims.begin(), g.values[v].dims.end());
    return s;
  };
  for (int v : g.inputs) impl->inputs.push_back(spec(v, g.values[v].name));
  for (size_t i = 0; i < g.outputs.size(); ++i)
    impl->outputs.push_back(spec(g.outputs[i], g.output_names[i]));
  impl->plan = graph::build_plan(std::move(g));  // the file mapping is released here
  impl->load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  return std::shared_ptr<const Model>(new Model(std::move(impl)));
}

const std::vector<ValueSpec>& Model::inputs() const { return impl_->inputs; }
const std::vector<ValueSpec>& Model::outputs() const { return impl_->outputs; }

std::vector<LayerReport> Model::report() const {
  std::vector<LayerReport> rows;
  for (const graph::Step& s : impl_->plan->steps) rows.push_back(s.report);
  return rows;
}

int Model::num_threads() const {
  return impl_->num_threads > 0 ? impl_->num_threads : base::num_threads();
}

int64_t Model::weight_bytes() const { return impl_->plan->weight_bytes; }
int64_t Model::activation_bytes_per_sample() const { return impl_->plan->arena_per_sample * 4; }

std::string Model::summary() const {
  const graph::Plan& p = *impl_->plan;
  std::string s = "sparse_rt Model '" + impl_->path + "' (producer: " + p.producer + ")\n";
  for (const ValueSpec& v : impl_->inputs) s += "  input  " + v.name + " " + shape_str(v.shape) + "\n";
  for (const ValueSpec& v : impl_->outputs) s += "  output " + v.name + " " + shape_str(v.shape) + "\n";
  int64_t dense = 0, useful = 0;
  char line[512];
  std::snprintf(line, sizeof line, "  %-24s %-16s %-20s %-9s %7s  %s\n", "layer", "op", "output",
                "format", "density", "kernel");
  s += line;
  for (const graph::Step& st : p.steps) {
    const LayerReport& r = st.report;
    std::string op = r.op;
    std::string name = r.name;
    for (const std::string& f : r.fused) name += "+" + f;
    if (!r.activation.empty() && r.activation != "none") op += " " + r.activation;
    char dens[16] = "";
    if (!r.format.empty()) std::snprintf(dens, sizeof dens, "%.3f", r.density);
    std::snprintf(line, sizeof line, "  %-24s %-16s %-20s %-9s %7s  %s\n", name.c_str(),
                  op.c_str(), shape_str(r.output_shape).c_str(), r.format.c_str(), dens,
                  r.kernel.c_str());
    s += line;
    dense += r.dense_flops;
    useful += r.useful_flops;
  }
  s += "  " + std::to_string(p.steps.size()) + " layers; " + human(double(useful), "FLOP") +
       " useful / " + human(double(dense), "FLOP") + " dense per sample; weights " +
       human(double(p.weight_bytes), "B") + "; activations " +
       human(double(p.arena_per_sample * 4), "B") + " per sample in " +
       std::to_string(p.num_buffers) + " reused buffers (" +
       human(double(p.unplanned_per_sample * 4), "B") + " without reuse); ISA " + impl_->isa +
       ", " + std::to_string(num_threads()) + " threads\n";
  if (p.tail_begin < p.steps.size())
    s += "  batch tail: the last " + std::to_string(p.steps.size() - p.tail_begin) +
         " layer(s), from " + p.steps[p.tail_begin].report.name +
         ", run once over a whole batch (the others per sample in lanes)\n";
  return s;
}

}  // namespace sparse_rt
