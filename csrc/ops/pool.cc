#include "ops/pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "base/isa.h"
#include "dispatch/registry.h"

namespace sparse_rt::ops {
namespace {

int team(int64_t planes, int64_t work, int threads) {
  if (work < (1 << 14)) return 1;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, planes)));
}

}  // namespace

void max_pool2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t ho,
                int64_t wo, const Pool2dParams& p, int threads) {
  const kernels::MaxPoolGeom g{h, w, ho, wo, p.kh, p.kw, p.sh, p.sw, p.dh, p.dw, p.pt, p.pl};
  const kernels::F32MaxpoolFn fn = dispatch::select_maxpool(base::active_isa()).fn;
#pragma omp parallel num_threads(team(planes, planes * ho * wo * p.kh * p.kw, threads))
  {
    std::vector<float> row(static_cast<size_t>(kernels::maxpool_row_floats(g)));
#pragma omp for schedule(static)
    for (int64_t c = 0; c < planes; ++c) fn(g, x + c * h * w, y + c * ho * wo, row.data());
  }
}

void avg_pool2d(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t ho,
                int64_t wo, const Pool2dParams& p, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(planes, planes * ho * wo * p.kh * p.kw, threads))
  for (int64_t c = 0; c < planes; ++c) {
    const float* xp = x + c * h * w;
    float* yp = y + c * ho * wo;
    for (int64_t oy = 0; oy < ho; ++oy) {
      const int64_t hs = oy * p.sh - p.pt, he = std::min(hs + p.kh, h + p.pb);
      const int64_t u0 = std::max<int64_t>(hs, 0), u1 = std::min(he, h);
      for (int64_t ox = 0; ox < wo; ++ox) {
        const int64_t ws = ox * p.sw - p.pl, we = std::min(ws + p.kw, w + p.pr);
        const int64_t v0 = std::max<int64_t>(ws, 0), v1 = std::min(we, w);
        double s = 0.0;
        for (int64_t u = u0; u < u1; ++u)
          for (int64_t v = v0; v < v1; ++v) s += xp[u * w + v];
        const int64_t div = p.count_include_pad ? (he - hs) * (we - ws) : (u1 - u0) * (v1 - v0);
        yp[oy * wo + ox] = static_cast<float>(s / static_cast<double>(div));
      }
    }
  }
}

void global_avg_pool(const float* x, float* y, int64_t planes, int64_t hw, int threads) {
#pragma omp parallel for schedule(static) num_threads(team(planes, planes * hw, threads))
  for (int64_t c = 0; c < planes; ++c) {
    const float* xp = x + c * hw;
    double s = 0.0;
    for (int64_t i = 0; i < hw; ++i) s += xp[i];
    y[c] = static_cast<float>(s / static_cast<double>(hw));
  }
}

}  // namespace sparse_rt::ops
