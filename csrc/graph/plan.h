// Load-time planning and the executor.
//
// build_plan() turns a validated Graph into a Plan:
//   * batch_norm directly after a conv2d (the conv's only consumer, conv without activation)
//     is folded into the conv's weights and bias;
//   * an activation node after conv2d/linear/add (their only consumer, no activation yet) is
//     fused into it;
//   * an add of two same-shape values, one of them the output of a conv2d on the fast ops
//     (its only consumer, conv without activation) computed after the other, is fused into
//     that conv as a residual (the add's activation becomes the conv's; later activations
//     fuse as before); the other value becomes an extra input of the conv's step, so its
//     buffer stays live and is never the conv's output;
//   * flatten/reshape/identity become aliases (no copy, no step);
//   * every other node becomes a Step running a Layer whose weights are packed once;
//   * a memory plan assigns each computed value a buffer in one arena, reusing a buffer once
//     its value is dead (liveness over the step order). Offsets are per sample, so one plan
//     serves every batch size: the arena for batch N is N x arena_per_sample floats.
// A Plan is immutable; execute() may run concurrently on different arenas.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "sparse_rt/model.h"

namespace sparse_rt::graph {

// The executor's view of a layer: it neither knows nor cares about storage formats or kernels.
class Layer {
 public:
  virtual ~Layer() = default;
  // Floats of scratch one run() needs, independent of the batch.
  virtual int64_t scratch_floats() const { return 0; }
  // ins[i]: input i, (batch, per-sample shape) contiguous; y: the output. Inputs and output
  // never overlap, except that y may be ins[in_place_input()] itself. Thread-safe (const);
  // uses up to `threads` OpenMP threads.
  virtual void run(const float* const* ins, float* y, int64_t batch, float* scratch,
                   int threads) const = 0;
  // The input (shaped like y) that run() can overwrite with y, element by element, or -1. The
  // planner gives y that input's buffer when the input dies at this step, so the output
  // lines are already in cache and no separate buffer is written.
  virtual int in_place_input() const { return -1; }
};

struct Step {
  std::unique_ptr<Layer> layer;
  std::vector<int> inputs;  // value ids (resolved through aliases at run time)
  int output = -1;
  LayerReport report;
};

struct Plan {
  std::vector<Value> values;
  std::vector<int> inputs, outputs;
  std::vector<std::string> output_names;
  int64_t fixed_batch = 0;
  std::string producer;
  std::vector<Step> steps;
  std::vector<int> root;              // value -> the value whose memory it uses (aliases)
  std::vector<int64_t> offset;        // root value -> per-sample float offset (-1: graph input)
  int64_t arena_per_sample = 0;       // floats
  int64_t scratch_floats = 0;
  int64_t weight_bytes = 0;
  int num_buffers = 0;
  int64_t unplanned_per_sample = 0;   // floats without reuse, for the summary
  // Batch tail (docs/runtime.md, "Batches"): when a batch runs in lanes, steps
  // [tail_begin, steps.size()) run once over the whole batch on all threads instead of per
  // lane and sample, so a classifier reads its weights once per batch. The tail's values and
  // the head values it reads (tail_cut) live in a tail buffer of batch * tail_per_sample
  // floats, value (root) v at tail_offset[v] * batch (-1: not there). tail_begin ==
  // steps.size(): no tail.
  size_t tail_begin = 0;
  std::vector<int> tail_cut;
  std::vector<int64_t> tail_offset;
  int64_t tail_per_sample = 0;
};

// Consumes the graph (its storage may be released afterwards: weights are copied/packed).
std::unique_ptr<Plan> build_plan(Graph g);

// Runs the plan for `batch` samples. inputs[i] points to graph input i; arena holds
// batch * arena_per_sample floats, scratch plan.scratch_floats floats. Returns the address
// of every graph output (inside the arena or an input). step_ms, if not null, receives the
// wall time of every step.
std::vector<const float*> execute(const Plan& plan, const float* const* inputs, int64_t batch,
                                  float* arena, float* scratch, int threads,
                                  std::vector<double>* step_ms);

// Where value v lives in a run of `batch` samples over `arena` (graph inputs: inputs[i]).
float* value_address(const Plan& plan, int v, const float* const* inputs, float* arena,
                     int64_t batch);

// Where value v lives in the tail buffer of a `batch`-sample run (graph inputs: inputs[i]).
float* tail_address(const Plan& plan, int v, const float* const* inputs, float* tail,
                    int64_t batch);

// Steps [first, last) for `batch` samples, each value where `where(value id)` says (the
// caller's arena or tail buffer). step_ms (sized to plan.steps by the caller) receives the
// wall time of these steps.
template <class Where>
void run_steps(const Plan& plan, size_t first, size_t last, Where&& where, int64_t batch,
               float* scratch, int threads, std::vector<double>* step_ms);

template <class Where>
void run_steps(const Plan& plan, size_t first, size_t last, Where&& where, int64_t batch,
               float* scratch, int threads, std::vector<double>* step_ms) {
  std::vector<const float*> ins;
  for (size_t s = first; s < last; ++s) {
    const Step& st = plan.steps[s];
    ins.clear();
    for (int v : st.inputs) ins.push_back(where(v));
    float* y = where(st.output);
    const auto t0 = std::chrono::steady_clock::now();
    st.layer->run(ins.data(), y, batch, scratch, threads);
    if (step_ms)
      (*step_ms)[s] =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
}

}  // namespace sparse_rt::graph
