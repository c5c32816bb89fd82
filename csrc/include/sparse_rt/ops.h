// Stand-alone sparse operations on canonical matrices. Each call validates its arguments,
// picks the kernel for the current ISA path and runs on get_num_threads() threads.
#pragma once

#include <cstdint>
#include <string>

#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt {

enum class Activation { kNone, kRelu, kRelu6 };

// y = act(W @ x + bias):  W is M x K (CSR), x is K x n row-major, y is M x n row-major.
// bias (M values) may be null. Returns the name of the kernel used.
std::string spmm(const CsrMatrix& w, const float* x, int64_t n, float* y,
                 const float* bias = nullptr, Activation act = Activation::kNone);

}  // namespace sparse_rt
