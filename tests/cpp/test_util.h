// Shared helpers for the C++ tests: deterministic random matrices and comparisons.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/isa.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::testing {

// rows x cols, each entry zero with probability `sparsity`, else uniform in [-1, 1).
inline std::vector<float> random_sparse_dense(int64_t rows, int64_t cols, double sparsity,
                                              uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::vector<float> a(static_cast<size_t>(rows * cols));
  for (float& v : a) v = coin(gen) < sparsity ? 0.0f : val(gen);
  return a;
}

inline std::vector<float> random_dense(int64_t count, uint32_t seed) {
  return random_sparse_dense(1, count, 0.0, seed);
}

// Max |a - b| / (1 + |b|).
inline double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    worst = std::fmax(worst, std::fabs(double{a[i]} - b[i]) / (1.0 + std::fabs(double{b[i]})));
  return worst;
}

inline bool cpu_can_run(base::Isa isa) { return base::cpu_supports(isa); }

}  // namespace sparse_rt::testing
