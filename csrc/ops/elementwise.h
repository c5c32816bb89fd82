// Elementwise and small per-channel ops used by the graph executor: activations, add,
// per-channel affine (batch norm), softmax, channel concat. Plain OpenMP loops (no
// intrinsics: the compiler vectorises them); `threads` is the OpenMP team size to use.
// All arrays are float32, contiguous, and must not overlap unless stated.
#pragma once

#include <cstdint>

#include "sparse_rt/ops.h"

namespace sparse_rt::ops {

// docs/format.md §5.1.
enum class Act { kNone, kRelu, kRelu6, kHardswish, kSigmoid };
const char* act_name(Act act);
// The public op-level activation (none / ReLU / ReLU6) as an Act.
inline Act to_act(Activation a) {
  return a == Activation::kRelu ? Act::kRelu : a == Activation::kRelu6 ? Act::kRelu6 : Act::kNone;
}

// y[i] = act(x[i]) for i < n. x == y is allowed (in place).
void activation(Act act, const float* x, float* y, int64_t n, int threads);

// y[i] = act(a[i] + b[i]). y may alias a or b.
void add(const float* a, const float* b, float* y, int64_t n, Act act, int threads);

// x, y: (outer, channels, inner); y = x * scale[c] + shift[c]. x == y allowed.
void channel_affine(const float* x, float* y, int64_t outer, int64_t channels, int64_t inner,
                    const float* scale, const float* shift, int threads);

// x, y: (outer, len, inner); softmax along the middle axis. x == y allowed.
void softmax(const float* x, float* y, int64_t outer, int64_t len, int64_t inner, int threads);

// y (n, sum(c_i) * inner) = concatenation of x_i (n, c_i * inner) along axis 1.
void concat(const float* const* xs, const int64_t* sizes /* c_i * inner */, int count,
            float* y, int64_t n, int threads);

}  // namespace sparse_rt::ops
