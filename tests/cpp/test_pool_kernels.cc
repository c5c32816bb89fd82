// Every max-pooling kernel (kernels/maxpool) against a naive window max, exactly: plane sizes
// below, at and above the 8- and 16-lane vectors, kernels 1-5, strides 1-3, dilation 1-2,
// padding up to the window, one more output row and column (ceil mode: windows partly or wholly
// past the input, -inf when wholly), NaN anywhere in the input (it must win its windows), and
// the output's neighbours untouched. The row scratch starts as garbage (the kernel owns it).
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "base/isa.h"
#include "dispatch/registry.h"

namespace sparse_rt {
namespace {

float naive_window_max(const std::vector<float>& x, const kernels::MaxPoolGeom& g, int64_t oy,
                       int64_t ox) {
  float m = -std::numeric_limits<float>::infinity();
  bool nan = false;
  for (int64_t i = 0; i < g.kh; ++i)
    for (int64_t j = 0; j < g.kw; ++j) {
      const int64_t u = oy * g.sh - g.pt + i * g.dh, v = ox * g.sw - g.pl + j * g.dw;
      if (u < 0 || u >= g.h || v < 0 || v >= g.w) continue;
      const float a = x[static_cast<size_t>(u * g.w + v)];
      nan = nan || std::isnan(a);
      m = std::max(m, a);
    }
  return nan ? std::numeric_limits<float>::quiet_NaN() : m;
}

TEST(MaxpoolKernels, MatchNaiveWindowMaxOverEdgeSweep) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const float sentinel = 123.0f;
  int checked = 0;
  for (const auto& k : dispatch::maxpool_kernels()) {
    if (!base::isa_usable(k.isa)) continue;
    for (int64_t h : {1, 3, 8, 17})
      for (int64_t w : {1, 5, 8, 15, 16, 17, 33, 112})
        for (int64_t kk : {1, 2, 3, 5})
          for (int64_t s : {1, 2, 3})
            for (int64_t d : {1, 2})
              for (int64_t pad : {int64_t{0}, kk / 2, kk - 1})
                for (int64_t extra : {0, 1}) {  // 1: ceil mode's extra, partly outside window
                  kernels::MaxPoolGeom g{h, w, 0, 0, kk, kk, s, s, d, d, pad, pad};
                  const int64_t span = d * (kk - 1) + 1;
                  if (h + 2 * pad < span || w + 2 * pad < span) continue;
                  g.ho = (h + 2 * pad - span) / s + 1 + extra;
                  g.wo = (w + 2 * pad - span) / s + 1 + extra;
                  std::vector<float> x(static_cast<size_t>(h * w));
                  for (float& v : x) v = val(rng);
                  if ((h * w + kk + s) % 3 == 0)
                    x[static_cast<size_t>((h * w) / 2)] = std::nanf("");
                  const auto row_floats = static_cast<size_t>(kernels::maxpool_row_floats(g));
                  std::vector<float> row(row_floats, 7.0f);
                  std::vector<float> y(static_cast<size_t>(g.ho * g.wo + 32), sentinel);
                  k.fn(g, x.data(), y.data() + 16, row.data());
                  for (int64_t i = 0; i < 16; ++i) {
                    ASSERT_EQ(y[static_cast<size_t>(i)], sentinel) << k.name;
                    ASSERT_EQ(y[static_cast<size_t>(16 + g.ho * g.wo + i)], sentinel) << k.name;
                  }
                  for (int64_t oy = 0; oy < g.ho; ++oy)
                    for (int64_t ox = 0; ox < g.wo; ++ox) {
                      const float want = naive_window_max(x, g, oy, ox);
                      const float got = y[static_cast<size_t>(16 + oy * g.wo + ox)];
                      ASSERT_TRUE(std::isnan(want) ? std::isnan(got) : got == want)
                          << k.name << " h=" << h << " w=" << w << " k=" << kk << " s=" << s
                          << " d=" << d << " pad=" << pad << " extra=" << extra << " at ("
                          << oy << ", " << ox << "): got " << got << ", want " << want;
                    }
                  ++checked;
                }
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace sparse_rt
