// The graph IR: what the model reader (io/) produces after validating a file, and what the
// planner (graph/plan.h) turns into packed layers. Every field here has been checked against
// docs/format.md; array pointers point into storage kept alive by Graph::storage.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ops/elementwise.h"

namespace sparse_rt::graph {

enum class OpType {
  kConv2d, kLinear, kBatchNorm, kRelu, kRelu6, kHardswish, kSigmoid, kIdentity, kAdd, kConcat,
  kMaxPool2d, kAvgPool2d, kGlobalAvgPool, kFlatten, kReshape, kSoftmax,
};
const char* op_name(OpType op);

using ops::Act;  // the activations of docs/format.md §5.1

enum class WeightFormat { kDense, kCsr, kBsr };
const char* format_name(WeightFormat f);

// A conv2d/linear weight W (rows x cols) as stored: dense row-major, CSR, or BSR with
// br x bc blocks. For CSR/BSR, `indices` holds int32 (U16 files are widened by the reader),
// `indptr` has rows/br + 1 entries and `nnz` is the number of stored entries (CSR) or blocks.
struct Weight {
  WeightFormat format = WeightFormat::kDense;
  int64_t rows = 0, cols = 0;
  int64_t br = 1, bc = 1;
  const float* data = nullptr;
  const int32_t* indices = nullptr;
  const int32_t* indptr = nullptr;
  int64_t nnz = 0;
  int64_t stored_values() const {
    return format == WeightFormat::kDense ? rows * cols : nnz * br * bc;
  }
};

// Normalised attributes (defaults filled in); only those of the node's op are meaningful.
struct Attrs {
  int64_t in_channels = 0, out_channels = 0;  // conv2d
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0;     // padding: top, left, bottom, right
  int64_t groups = 1;
  bool bias = false;
  Act act = Act::kNone;                       // conv2d, linear, add
  int64_t in_features = 0, out_features = 0;  // linear
  int64_t channels = 0;                       // batch_norm
  bool bn_stats = true;
  double eps = 1e-5;
  bool ceil_mode = false, count_include_pad = true;  // pools
  int64_t axis = 1;                                  // softmax (resolved, >= 1), concat
};

// A value flowing through the graph: its per-sample dimensions (batch excluded).
struct Value {
  std::string name;
  std::vector<int64_t> dims;
  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

struct Node {
  std::string name;
  OpType op = OpType::kIdentity;
  std::vector<int> inputs;  // value ids
  int output = -1;          // value id
  Attrs attrs;
  Weight weight;            // conv2d, linear
  const float* bias = nullptr;
  // batch_norm: mean/var/gamma/beta (stats) or scale/shift
  const float* mean = nullptr; const float* var = nullptr;
  const float* gamma = nullptr; const float* beta = nullptr;
  const float* scale = nullptr; const float* shift = nullptr;
};

struct Graph {
  std::vector<Value> values;
  std::vector<int> inputs, outputs;  // value ids, in the file's order
  std::vector<std::string> output_names;
  int64_t fixed_batch = 0;           // 0: free batch
  std::vector<Node> nodes;           // topologically sorted
  std::string producer;
  std::shared_ptr<const void> storage;  // keeps the arrays above alive (the mapped file)
  std::vector<std::vector<int32_t>> widened;  // U16 indices widened to int32
};

}  // namespace sparse_rt::graph
