#include "sparse_rt/session.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <cstring>
#include <limits>
#include <string>

#include "api/model_impl.h"
#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

std::string expected_shape(const ValueSpec& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.shape.size(); ++i)
    r += (i ? ", " : "") + (s.shape[i] < 0 ? std::string("N") : std::to_string(s.shape[i]));
  return r + "]";
}

std::string dims_string(const std::vector<int64_t>& v) {
  std::string r = "[";
  for (size_t d = 0; d < v.size(); ++d) r += (d ? ", " : "") + std::to_string(v[d]);
  return r + "]";
}

// 64-byte aligned float buffer that only grows.
struct Buffer {
  std::unique_ptr<float[]> raw;
  float* data = nullptr;
  int64_t capacity = 0;
  void ensure(int64_t floats) {
    if (floats <= capacity) return;
    raw.reset(new float[static_cast<size_t>(floats + 16)]);
    const uintptr_t a = reinterpret_cast<uintptr_t>(raw.get());
    data = raw.get() + ((64 - a % 64) % 64) / sizeof(float);
    capacity = floats;
  }
};

// Samples per chunk in a lane: as many as keep the chunk's activations within ~1 MiB (one
// core's L2), at least 1. Convolutional nets at ImageNet sizes get 1 (one image's activations
// are megabytes); small nets (an MLP) keep whole batches, whose layers then reuse each weight
// across the samples instead of streaming the weights once per sample.
int64_t chunk_for(const graph::Plan& plan, int64_t per_lane) {
  constexpr int64_t kChunkBytes = int64_t{1} << 20;
  const int64_t per_sample = std::max<int64_t>(1, plan.arena_per_sample) * int64_t{sizeof(float)};
  return std::max<int64_t>(1, std::min(per_lane, kChunkBytes / per_sample));
}

}  // namespace

struct Session::State {
  std::vector<Buffer> arena, scratch;  // one per lane
  Buffer tail;                         // the batch tail's values (graph/plan.h)
  bool profiling = false;
  RunProfile profile;
};

namespace {

// Lanes for a batch: with several threads and several samples, each lane (one thread) runs its
// own samples through the whole network, a chunk at a time, instead of every layer running the
// whole batch on all threads. A chunk's activations then stay in cache from layer to layer and
// the threads never wait for each other (measured: docs/runtime.md, "Batches"). Models with a
// fixed batch size run whole (their graph may depend on it); SPARSE_RT_BATCH_LANES=0 turns lanes
// off.
int lanes_for(const graph::Plan& plan, int64_t batch, int threads) {
  static const bool off = [] {
    const char* v = std::getenv("SPARSE_RT_BATCH_LANES");
    return v && std::string(v) == "0";
  }();
  if (off || plan.fixed_batch != 0 || batch < 2 || threads < 2) return 1;
  return static_cast<int>(std::min<int64_t>(threads, batch));
}

}  // namespace

Session::Session(std::shared_ptr<const Model> model)
    : model_(std::move(model)), state_(std::make_unique<State>()) {
  if (!model_) throw InvalidArgument("Session: model is null");
}

Session::~Session() = default;

void Session::set_profiling(bool on) { state_->profiling = on; }
const RunProfile& Session::last_profile() const { return state_->profile; }

std::vector<std::vector<int64_t>> Session::output_shapes(int64_t batch) const {
  std::vector<std::vector<int64_t>> r;
  for (const ValueSpec& s : model_->outputs()) {
    std::vector<int64_t> sh = s.shape;
    sh[0] = batch;
    r.push_back(std::move(sh));
  }
  return r;
}

int64_t Session::validate_inputs(const std::vector<Tensor>& inputs) const {
  const Model::Impl& m = model_->impl();
  const auto& specs = m.inputs;
  if (inputs.size() != specs.size())
    throw InvalidArgument("Session::run: the model takes " + std::to_string(specs.size()) +
                          " input(s), got " + std::to_string(inputs.size()));
  int64_t batch = -1;
  for (size_t i = 0; i < specs.size(); ++i) {
    const ValueSpec& s = specs[i];
    const std::vector<int64_t>& sh = inputs[i].shape();
    bool ok = sh.size() == s.shape.size() && sh[0] >= 0;
    for (size_t d = 0; ok && d < sh.size(); ++d)
      if (s.shape[d] >= 0 && sh[d] != s.shape[d]) ok = false;
    if (!ok)
      throw InvalidArgument("input '" + s.name + "' has shape " + inputs[i].shape_string() +
                            ", expected " + expected_shape(s));
    if (batch >= 0 && sh[0] != batch)
      throw InvalidArgument("input '" + s.name + "' has batch " + std::to_string(sh[0]) +
                            ", other inputs have " + std::to_string(batch));
    batch = sh[0];
    if (!inputs[i].data() && inputs[i].numel() > 0)
      throw InvalidArgument("input '" + s.name + "' has no data");
  }
  return batch < 0 ? 0 : batch;
}

std::vector<Tensor> Session::run(const std::vector<Tensor>& inputs) {
  // validate first so the batch is known, then allocate outputs
  std::vector<Tensor> outs;
  for (auto& s : output_shapes(validate_inputs(inputs))) outs.push_back(Tensor::zeros(s));
  run(inputs, outs);
  return outs;
}

void Session::run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs) {
  const auto t0 = std::chrono::steady_clock::now();
  const Model::Impl& m = model_->impl();
  const graph::Plan& plan = *m.plan;
  const int64_t batch = validate_inputs(inputs);
  std::vector<const float*> in_ptrs;
  for (const Tensor& t : inputs) in_ptrs.push_back(t.data());
  const auto want = output_shapes(batch);
  if (outputs.size() != want.size())
    throw InvalidArgument("Session::run: expected " + std::to_string(want.size()) +
                          " output tensor(s), got " + std::to_string(outputs.size()));
  for (size_t i = 0; i < want.size(); ++i)
    if (outputs[i].shape() != want[i] || (!outputs[i].data() && outputs[i].numel() > 0))
      throw InvalidArgument("output '" + m.outputs[i].name + "' has shape " +
                            outputs[i].shape_string() + ", expected " +
                            dims_string(want[i]));
  if (batch == 0) return;
  State& st = *state_;
  if (plan.arena_per_sample > (std::numeric_limits<int64_t>::max() / 8) / batch)
    throw InvalidArgument("batch " + std::to_string(batch) + " needs more activation memory (" +
                          std::to_string(plan.arena_per_sample) +
                          " floats per sample) than can be addressed");
  const int threads = model_->num_threads();
  const int lanes = lanes_for(plan, batch, threads);
  // One lane: every layer runs the whole batch on all threads. Several: see lanes_for().
  const int64_t chunk = lanes == 1 ? batch : chunk_for(plan, (batch + lanes - 1) / lanes);
  if (static_cast<int>(st.arena.size()) < lanes) {
    st.arena.resize(lanes);
    st.scratch.resize(lanes);
  }
  for (int l = 0; l < lanes; ++l) {
    st.arena[l].ensure(plan.arena_per_sample * chunk);
    st.scratch[l].ensure(plan.scratch_floats);
  }
  std::vector<int64_t> in_numel, out_numel;  // per sample
  for (const Tensor& t : inputs) in_numel.push_back(t.numel() / batch);
  for (const Tensor& t : outputs) out_numel.push_back(t.numel() / batch);
  // Samples [b, b + nb) through the plan in lane l's arena, `layer_threads` per layer; the
  // outputs are copied to their place unless the plan returned them there (an input alias).
  auto run_slice = [&](int l, int64_t b, int64_t nb, int layer_threads,
                       std::vector<double>* step_ms) {
    std::vector<const float*> ins(in_ptrs.size());
    for (size_t i = 0; i < ins.size(); ++i) ins[i] = in_ptrs[i] + b * in_numel[i];
    const std::vector<const float*> res = graph::execute(
        plan, ins.data(), nb, st.arena[l].data, st.scratch[l].data, layer_threads, step_ms);
    for (size_t i = 0; i < res.size(); ++i) {
      float* dst = outputs[i].data() + b * out_numel[i];
      if (dst != res[i])
        std::memmove(dst, res[i], static_cast<size_t>(nb * out_numel[i]) * sizeof(float));
    }
  };
  if (lanes == 1) {
    run_slice(0, 0, batch, threads, st.profiling ? &st.profile.layer_ms : nullptr);
  } else {
    // With a batch tail (graph/plan.h) the lanes run the steps before it and leave the values
    // it reads in the tail buffer; the tail then runs once over the whole batch.
    const bool tail = plan.tail_begin < plan.steps.size();
    const size_t head_end = tail ? plan.tail_begin : plan.steps.size();
    if (tail) st.tail.ensure(plan.tail_per_sample * batch);
    auto run_head = [&](int l, int64_t b, int64_t nb, std::vector<double>* step_ms) {
      std::vector<const float*> ins(in_ptrs.size());
      for (size_t i = 0; i < ins.size(); ++i) ins[i] = in_ptrs[i] + b * in_numel[i];
      auto where = [&](int v) {
        return graph::value_address(plan, v, ins.data(), st.arena[l].data, nb);
      };
      if (step_ms) step_ms->assign(plan.steps.size(), 0.0);
      graph::run_steps(plan, 0, head_end, where, nb, st.scratch[l].data, 1, step_ms);
      for (int v : plan.tail_cut) {
        const int64_t numel = plan.values[v].numel();
        std::memcpy(st.tail.data + plan.tail_offset[v] * batch + b * numel, where(v),
                    static_cast<size_t>(nb * numel) * sizeof(float));
      }
    };
    if (st.profiling) st.profile.layer_ms.assign(plan.steps.size(), 0.0);
    std::exception_ptr error;
    // Lane l takes samples [l*batch/lanes, (l+1)*batch/lanes), `chunk` at a time; the layers
    // inside run on the lane's one thread.
#pragma omp parallel num_threads(lanes)
    {
      const int l = omp_get_thread_num();
      const bool timed = st.profiling && l == 0;
      std::vector<double> step_ms;
      try {
        const int64_t end = (l + 1) * batch / lanes;
        for (int64_t b = l * batch / lanes; b < end; b += chunk) {
          const int64_t nb = std::min(chunk, end - b);
          if (tail)
            run_head(l, b, nb, timed ? &step_ms : nullptr);
          else
            run_slice(l, b, nb, 1, timed ? &step_ms : nullptr);
          // Lane 0's layer times: the lanes run side by side, so lane 0's time in a layer is
          // that layer's share of the whole run (scaled by the lane count, the layers summed
          // to about lanes times the run and the overhead came out negative).
          if (timed)
            for (size_t k = 0; k < step_ms.size(); ++k) st.profile.layer_ms[k] += step_ms[k];
        }
      } catch (...) {
#pragma omp critical(sparse_rt_session_error)
        if (!error) error = std::current_exception();
      }
    }
    if (error) std::rethrow_exception(error);
    if (tail) {
      auto where = [&](int v) {
        return graph::tail_address(plan, v, in_ptrs.data(), st.tail.data, batch);
      };
      graph::run_steps(plan, plan.tail_begin, plan.steps.size(), where, batch,
                       st.scratch[0].data, threads,
                       st.profiling ? &st.profile.layer_ms : nullptr);
      for (size_t i = 0; i < plan.outputs.size(); ++i) {
        const float* src = where(plan.outputs[i]);
        if (outputs[i].data() != src)
          std::memmove(outputs[i].data(), src,
                       static_cast<size_t>(batch * out_numel[i]) * sizeof(float));
      }
    }
  }
  if (st.profiling)
    st.profile.total_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace sparse_rt
