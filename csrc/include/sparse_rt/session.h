// Per-thread inference state for a Model: the activation arena (sized for the batch of the
// last run, reused while the batch does not grow) and kernel scratch.
//
// A Session is NOT thread-safe: use one per thread (they may share one Model). Creating a
// session is cheap; buffers are allocated on the first run().
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "sparse_rt/model.h"
#include "sparse_rt/tensor.h"

namespace sparse_rt {

// Wall time of the last run, when profiling is on.
struct RunProfile {
  double total_ms = 0;                 // the whole run(), including output copies
  std::vector<double> layer_ms;        // one per Model::report() row
};

class Session {
 public:
  explicit Session(std::shared_ptr<const Model> model);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Runs the model. `inputs` are in Model::inputs() order, each of shape
  // [batch, *per-sample shape]; every input has the same batch (>= 0; equal to the fixed
  // batch if the model declares one). Inputs are read, never written, and may be views.
  // Returns owning tensors in Model::outputs() order.
  // Throws InvalidArgument for a wrong input count or shape, naming the expected shape.
  std::vector<Tensor> run(const std::vector<Tensor>& inputs);

  // Same, writing into caller-provided outputs (e.g. views of numpy arrays): `outputs` must
  // hold one tensor per model output with exactly the shape output_shapes(batch) gives.
  void run(const std::vector<Tensor>& inputs, std::vector<Tensor>& outputs);

  // Checks inputs as run() does and returns their batch size; throws InvalidArgument.
  int64_t validate_inputs(const std::vector<Tensor>& inputs) const;

  // Output shapes for a batch size.
  std::vector<std::vector<int64_t>> output_shapes(int64_t batch) const;

  const Model& model() const { return *model_; }

  // Time every layer (adds a clock read per layer). Off by default.
  void set_profiling(bool on);
  const RunProfile& last_profile() const;

 private:
  struct State;
  std::shared_ptr<const Model> model_;
  std::unique_ptr<State> state_;
};

}  // namespace sparse_rt
