// A loaded model file (.sprt, docs/format.md): validated, weights packed, plan made.
//
//   auto model = sparse_rt::Model::load("resnet50-p90.sprt");
//   sparse_rt::Session session(model);                 // one per thread
//   std::vector<sparse_rt::Tensor> y = session.run({sparse_rt::Tensor::view(x, {1, 3, 224, 224})});
//
// A Model is immutable after load() and safe to share between any number of threads; all
// per-inference state (activation buffers, scratch) lives in a Session.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sparse_rt/options.h"

namespace sparse_rt {

// A graph input or output: its name and shape. shape[0] is the batch: -1 when the batch is
// free (any batch size at run time), else the fixed batch size.
struct ValueSpec {
  std::string name;
  std::vector<int64_t> shape;
};

// One row of Model::report(): an executed layer after load-time fusions. Shapes are per
// inference with the batch shown as -1 when free. FLOPs are per sample (multiply-add = 2):
// dense_flops as if every weight were stored, useful_flops for the stored weights only.
struct LayerReport {
  std::string name;      // the node's name; fused nodes are listed in `fused`
  std::string op;        // the file's op name, e.g. "conv2d"
  std::vector<std::string> fused;  // names of nodes folded/fused into this layer (batch_norm, relu...)
  std::string activation;          // fused activation ("none", "relu", ...) where applicable
  std::vector<std::vector<int64_t>> input_shapes;
  std::vector<int64_t> output_shape;
  std::string format;    // "dense", "csr", "bsr 4x4", or "" for ops without weights
  double density = 1.0;  // stored weight values / (rows x cols); 1 without weights
  std::string kernel;    // kernel or routine chosen at load
  int64_t dense_flops = 0;
  int64_t useful_flops = 0;
};

class Session;

class Model {
 public:
  // Reads, validates (every rule of docs/format.md), packs the weights and plans the
  // execution. Kernels are chosen for the ISA path current at load (sparse_rt::set_isa).
  // Throws ModelFormatError for an invalid file (the message names the file and the tensor or
  // node at fault) and InvalidArgument if the file cannot be opened or an option is invalid.
  static std::shared_ptr<const Model> load(const std::string& path, const LoadOptions& options = {});

  ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  const std::vector<ValueSpec>& inputs() const;
  const std::vector<ValueSpec>& outputs() const;
  std::vector<LayerReport> report() const;
  // A readable multi-line summary: inputs, outputs, layers, weights, memory plan.
  std::string summary() const;
  // Threads an inference uses (LoadOptions::num_threads, or the process setting if 0).
  int num_threads() const;
  // Bytes of packed weights, and of activation buffers per sample after buffer reuse.
  int64_t weight_bytes() const;
  int64_t activation_bytes_per_sample() const;

  // Internal (the plan behind the model; used by Session). Not part of the API.
  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparse_rt
