// Layer implementations for the executor (one per op kind, after fusions). Each is built once
// from validated IR, packs what it needs, and is immutable afterwards.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/ir.h"
#include "graph/plan.h"

namespace sparse_rt::graph {

// What the planner decided for one executed node.
struct FusedNode {
  const Node* node = nullptr;
  Act act = Act::kNone;            // conv2d / linear / add: the (possibly fused) activation
  const Node* folded_bn = nullptr; // conv2d: a batch_norm folded into the weights
  int residual = -1;               // conv2d: value added before the activation (a fused add)
};

// Whether a conv2d runs on the fast ops (ops/conv.h: DirectConv2d or DnnlConv2d), the only
// conv layers that take a fused residual: symmetric padding, no dilation.
bool fast_conv(const Attrs& a);

// Builds the layer of `f` over graph `g` and fills the report row's format/kernel/flops.
std::unique_ptr<Layer> make_layer(const Graph& g, const FusedNode& f, LayerReport* report,
                                  int64_t* weight_bytes);

}  // namespace sparse_rt::graph
