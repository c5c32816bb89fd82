#include "ops/elementwise.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace sparse_rt::ops {
namespace {

// Team size for a loop over n cheap elements: no threads for small arrays.
int team(int64_t n, int threads) {
  const int64_t per_thread = 1 << 14;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, n / per_thread)));
}

template <typename F>
void map(const float* x, float* y, int64_t n, int threads, F f) {
#pragma omp parallel for schedule(static) num_threads(team(n, threads))
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

}  // namespace

const char* act_name(Act act) {
  switch (act) {
    case Act::kNone: return "none";
    case Act::kRelu: return "relu";
    case Act::kRelu6: return "relu6";
    case Act::kHardswish: return "hardswish";
    case Act::kSigmoid: return "sigmoid";
  }
  return "?";
}

void activation(Act act, const float* x, float* y, int64_t n, int threads) {
  switch (act) {
    case Act::kNone:
      if (x != y) std::memcpy(y, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case Act::kRelu:
      return map(x, y, n, threads, [](float v) { return v > 0.0f ? v : (v == v ? 0.0f : v); });
    case Act::kRelu6:
      return map(x, y, n, threads,
                 [](float v) { return v != v ? v : std::min(std::max(v, 0.0f), 6.0f); });
    case Act::kHardswish:
      return map(x, y, n, threads,
                 [](float v) { return v * std::min(std::max(v + 3.0f, 0.0f), 6.0f) / 6.0f; });
    case Act::kSigmoid:
      return map(x, y, n, threads, [](float v) { return 1.0f / (1.0f + std::exp(-v)); });
  }
}

void add(const float* a, const float* b, float* y, int64_t n, Act act, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(n, threads))
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
  if (act != Act::kNone) activation(act, y, y, n, threads);
}

void channel_affine(const float* x, float* y, int64_t outer, int64_t channels, int64_t inner,
                    const float* scale, const float* shift, int threads) {
  const int64_t rows = outer * channels;
#pragma omp parallel for schedule(static) num_threads(team(rows * inner, threads))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r % channels;
    const float s = scale[c], t = shift[c];
    const float* xr = x + r * inner;
    float* yr = y + r * inner;
    for (int64_t i = 0; i < inner; ++i) yr[i] = xr[i] * s + t;
  }
}

void softmax(const float* x, float* y, int64_t outer, int64_t len, int64_t inner, int threads) {
  const int64_t lanes = outer * inner;
#pragma omp parallel for schedule(static) num_threads(team(lanes * len, threads))
  for (int64_t l = 0; l < lanes; ++l) {
    const int64_t o = l / inner, i = l % inner;
    const float* xs = x + o * len * inner + i;
    float* ys = y + o * len * inner + i;
    float mx = -INFINITY;
    for (int64_t k = 0; k < len; ++k) mx = std::max(mx, xs[k * inner]);
    if (std::isnan(mx)) mx = NAN;
    double sum = 0.0;
    for (int64_t k = 0; k < len; ++k) {
      const float e = std::exp(xs[k * inner] - mx);
      ys[k * inner] = e;
      sum += e;
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t k = 0; k < len; ++k) ys[k * inner] *= inv;
  }
}

void concat(const float* const* xs, const int64_t* sizes, int count, float* y, int64_t n,
            int threads) {
  int64_t total = 0;
  for (int k = 0; k < count; ++k) total += sizes[k];
#pragma omp parallel for schedule(static) num_threads(team(n * total, threads))
  for (int64_t b = 0; b < n; ++b) {
    float* dst = y + b * total;
    for (int k = 0; k < count; ++k) {
      std::memcpy(dst, xs[k] + b * sizes[k], static_cast<size_t>(sizes[k]) * sizeof(float));
      dst += sizes[k];
    }
  }
}

}  // namespace sparse_rt::ops
