// Every spconv kernel in kernels/spconv/kernels.inc against the scalar reference with the same
// row-group size, over an edge sweep; plus DirectConv2d against a naive convolution.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "base/isa.h"
#include "dispatch/registry.h"
#include "ops/conv.h"
#include "sparse_rt/status.h"

namespace sparse_rt {
namespace {

struct KernelCase {
  int64_t groups, q0, n, wq, wout, lda;
  double density;
  bool partial_in, partial_out, with_bias;
  float lo, hi;  // before the defaulted fields: the sweep's brace-init sets it
  int flags = 0;  // kSpconvOverread, kSpconvZeroPastTile
  bool with_res = false;
  int shifts = 1;  // segments per group (shifted taps, spconv.h)
  std::vector<int32_t> shift;  // per segment, largest first; empty: shifts - 1, ..., 0
  int64_t zero_from = -1;      // >= 0: x is 0 from there on (for kSpconvZeroPastTile)
  bool zero_col0 = false;      // offsets whole rows of wq and x 0 in every row's first column
  std::vector<int32_t> shift_list() const {
    if (!shift.empty()) return shift;
    std::vector<int32_t> s;
    for (int j = 0; j < shifts; ++j) s.push_back(shifts - 1 - j);
    return s;
  }
  std::string str() const {
    std::ostringstream s;
    s << "groups=" << groups << " q0=" << q0 << " n=" << n << " wq=" << wq << " wout=" << wout
      << " density=" << density << " acc_in=" << partial_in << " acc_out=" << partial_out
      << " bias=" << with_bias << " res=" << with_res << " flags=" << flags
      << " shifts=" << shifts << " shift=[";
    for (int32_t v : shift_list()) s << v << " ";
    s << "] zero_from=" << zero_from << " zero_col0=" << zero_col0
      << " clamp=[" << lo << ", " << hi << "]";
    return s.str();
  }
};

const dispatch::SpconvKernel& reference_for(int mr) {
  for (const auto& k : dispatch::spconv_kernels())
    if (k.isa == base::Isa::kScalar && k.mr == mr) return k;
  throw std::runtime_error("no reference kernel");
}

void run_case(const dispatch::SpconvKernel& kernel, const KernelCase& c, uint32_t seed) {
  const int mr = kernel.mr;
  const int64_t m = c.groups * mr;
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const std::vector<int32_t> shift = c.shift_list();
  const int64_t x_len = c.q0 + c.n + 200 + shift[0] + (c.flags & kernels::kSpconvOverread ? 63 : 0);
  std::vector<float> x(static_cast<size_t>(x_len));
  for (auto& v : x) v = val(rng);
  if (c.zero_from >= 0) std::fill(x.begin() + std::min(c.zero_from, x_len), x.end(), 0.0f);
  if (c.zero_col0)
    for (int64_t i = 0; i < x_len; i += c.wq) x[static_cast<size_t>(i)] = 0.0f;
  const int32_t step = c.zero_col0 ? static_cast<int32_t>(c.wq) : 7;
  // Per group: index blocks (ips = shifts + 2) of entries with offsets in [0, 200]; the
  // kernels use the first `shifts` (one per shift), the next is filled but not theirs.
  const int64_t ips = c.shifts + 2;
  std::vector<int32_t> indptr, offsets;
  std::vector<float> values;
  std::bernoulli_distribution keep(c.density);
  for (int64_t g = 0; g < c.groups; ++g)
    for (int64_t b = 0; b < ips; ++b) {
      indptr.push_back(static_cast<int32_t>(offsets.size()));
      if (b == ips - 1) continue;  // the last slot only closes the previous range
      for (int32_t off = 0; off <= 200; off += step)
        if (keep(rng)) {
          offsets.push_back(off);
          for (int r = 0; r < mr; ++r) values.push_back(val(rng));
        }
    }
  // Group g uses [indptr[g*ips], indptr[g*ips + shifts]).
  std::vector<float> bias(static_cast<size_t>(m));
  for (auto& v : bias) v = val(rng);
  const int64_t rows_out = (c.q0 + c.n) / c.wq + 1;
  const int64_t ldy = rows_out * c.wout + 3;
  std::vector<float> acc(static_cast<size_t>(m * c.lda));
  for (auto& v : acc) v = val(rng);
  std::vector<float> res(static_cast<size_t>(m * ldy));
  for (auto& v : res) v = val(rng);
  const float* resp = c.with_res ? res.data() : nullptr;
  const float sentinel = -777.0f;
  std::vector<float> y_ref(static_cast<size_t>(m * ldy), sentinel), y(y_ref);
  std::vector<float> acc_ref(acc), acc_out(acc);
  reference_for(mr).fn(m, c.q0, c.n, indptr.data(), ips, c.shifts, shift.data(), offsets.data(),
                       values.data(),
                       x.data(), c.partial_in ? acc.data() : nullptr,
                       c.partial_out ? acc_ref.data() : nullptr, c.lda,
                       c.with_bias ? bias.data() : nullptr, y_ref.data(), resp, ldy, c.wq, c.wout,
                       c.lo, c.hi, 0);
  kernel.fn(m, c.q0, c.n, indptr.data(), ips, c.shifts, shift.data(), offsets.data(),
            values.data(), x.data(),
            c.partial_in ? acc.data() : nullptr, c.partial_out ? acc_out.data() : nullptr, c.lda,
            c.with_bias ? bias.data() : nullptr, y.data(), resp, ldy, c.wq, c.wout, c.lo, c.hi,
            c.flags);
  for (size_t i = 0; i < y.size(); ++i)
    ASSERT_NEAR(y[i], y_ref[i], 1e-4f) << kernel.name << " y[" << i << "] " << c.str();
  for (size_t i = 0; i < acc_out.size(); ++i) {
    const int64_t q = c.q0 + static_cast<int64_t>(i) % c.lda;
    if (c.shifts > 1 && q % c.wq >= c.wout) continue;  // unspecified there (spconv.h)
    ASSERT_NEAR(acc_out[i], acc_ref[i], 1e-4f) << kernel.name << " acc[" << i << "] " << c.str();
  }
}

TEST(SpconvKernels, MatchReferenceOverEdgeSweep) {
  const float inf = std::numeric_limits<float>::infinity();
  int tested = 0;
  for (const auto& kernel : dispatch::spconv_kernels()) {
    if (!base::isa_usable(kernel.isa)) {
      std::cout << "[ SKIPPED  ] " << kernel.name << ": ISA not usable here\n";
      continue;
    }
    uint32_t seed = 1;
    for (int64_t n : {1, 7, 8, 15, 16, 17, 24, 31, 32, 33, 48, 49, 56, 63, 64, 65, 72, 80, 81, 100, 129, 144, 257})
      for (int64_t wq : {1, 5, 16, 19, 58})
        for (double density : {0.0, 0.5, 0.9, 1.0}) {
          const int64_t wout = std::max<int64_t>(1, wq - (n % 3));
          KernelCase c{3, static_cast<int64_t>(n % 5), n, wq, wout, n + 5, density,
                       false, false, (n % 2) == 0, -inf, inf};
          run_case(kernel, c, seed++);
          c.with_res = true;  // the residual epilogue, without and with partial sums
          run_case(kernel, c, seed++);
          c.partial_in = true;
          c.lo = 0.0f;
          c.hi = (n % 4 == 1) ? 0.5f : inf;
          run_case(kernel, c, seed++);
          c.partial_out = true;  // the residual must not reach acc_out
          run_case(kernel, c, seed++);
          c.partial_in = false;
          c.with_res = false;
          run_case(kernel, c, seed++);
          c.flags = kernels::kSpconvOverread;
          run_case(kernel, c, seed++);
          c.partial_out = false;
          run_case(kernel, c, seed++);
          c.with_res = true;
          run_case(kernel, c, seed++);
          if (::testing::Test::HasFatalFailure()) return;
        }
    ++tested;
  }
  EXPECT_GE(tested, 3);
}

// Shifted taps: tiles of whole rows (the kernels move their accumulators between segments) and
// layouts where they must shift the loads instead (no over-read, rows across tiles, too few
// garbage columns, and on AVX-512 rows shorter than a vector: wq = 8, 4).
TEST(SpconvKernels, ShiftedTapsMatchReference) {
  const float inf = std::numeric_limits<float>::infinity();
  int tested = 0;
  for (const auto& kernel : dispatch::spconv_kernels()) {
    if (!base::isa_usable(kernel.isa)) continue;
    uint32_t seed = 1000;
    for (int shifts : {2, 3})
      for (int64_t wq : {16, 32, 64, 24, 8, 4})
        for (int64_t rows : {1, 2, 3, 5})
          for (int64_t garbage : {int64_t{shifts - 1}, int64_t{shifts}, int64_t{0}}) {
            const int64_t n = rows * wq, wout = wq - garbage;
            for (int64_t q0 : {int64_t{0}, wq, int64_t{3}}) {
              KernelCase c{3, q0, n, wq, wout, n + 5, 0.5, false, false, rows % 2 == 1,
                           -inf, inf};
              c.shifts = shifts;
              c.flags = kernels::kSpconvOverread;
              run_case(kernel, c, seed++);
              c.with_res = true;
              c.lo = 0.0f;
              run_case(kernel, c, seed++);
              c.partial_in = true;
              run_case(kernel, c, seed++);
              c.partial_out = true;
              run_case(kernel, c, seed++);
              c.partial_in = false;
              run_case(kernel, c, seed++);
              c.flags = 0;
              c.partial_out = false;
              run_case(kernel, c, seed++);
              c.density = 1.0;
              c.n = n - 1;  // not whole rows
              c.flags = kernels::kSpconvOverread;
              run_case(kernel, c, seed++);
              if (::testing::Test::HasFatalFailure()) return;
            }
          }
    ++tested;
  }
  EXPECT_GE(tested, 3);
}

// Shifts that skip lanes (several rows per vector: the tap's in-plane offset mod 16, e.g.
// 10, 9, 8, 2, 1, 0 for a 3x3 over rows of 8), with garbage columns enough for Horner, with too
// few (the loads shift instead), and with kSpconvZeroPastTile: one tile whose lanes past it
// read zeros (x is 0 from the tile's end on).
TEST(SpconvKernels, GappedShiftsMatchReference) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<std::vector<int32_t>> lists = {
      {10, 9, 8, 2, 1, 0}, {9, 8, 1, 0}, {13, 6}, {5, 4, 1}};
  int tested = 0;
  for (const auto& kernel : dispatch::spconv_kernels()) {
    if (!base::isa_usable(kernel.isa)) continue;
    uint32_t seed = 5000;
    for (const auto& list : lists)
      for (int64_t wq : {16, 32, 8, 4})
        for (int64_t rows : {1, 3, 7}) {
          const int64_t n = rows * wq;
          for (int64_t garbage : {int64_t{list[0]}, int64_t{1}}) {
            if (garbage >= wq) continue;
            for (int variant = 0; variant < 6; ++variant) {
              KernelCase c{2, 0, n, wq, wq - garbage, n + 3, 0.6, variant >= 3, variant == 4,
                           variant % 2 == 0, variant == 2 ? 0.0f : -inf, inf};
              c.shifts = static_cast<int>(list.size());
              c.shift = list;
              c.flags = kernels::kSpconvOverread;
              c.with_res = variant == 1 || variant == 5;
              run_case(kernel, c, seed++);
              c.flags = kernels::kSpconvOverread | kernels::kSpconvZeroPastTile;  // one tile: x zero past it
              c.zero_from = (n + 15) / 16 * 16;
              if (n <= kernel.nr) run_case(kernel, c, seed++);
              if (::testing::Test::HasFatalFailure()) return;
            }
          }
        }
    ++tested;
  }
  EXPECT_GE(tested, 3);
}

// Rows of 8 (or 4) sharing their padding column, as the op lays out 7x7 images for AVX2: the
// offsets are whole rows and x is 0 in every row's first column (the shared padding), so every
// lane a valid output takes from past any tile of whole rows reads a zero, and
// kSpconvZeroPastTile holds for every tiling (AVX2 Horner with one garbage column).
TEST(SpconvKernels, ZeroPastRowsMatchReference) {
  const float inf = std::numeric_limits<float>::infinity();
  int tested = 0;
  for (const auto& kernel : dispatch::spconv_kernels()) {
    if (!base::isa_usable(kernel.isa)) continue;
    uint32_t seed = 7000;
    for (int shifts : {2, 3})
      for (int64_t wq : {8, 4})
        for (int64_t rows : {1, 3, 4, 7, 9, 12})
          for (int variant = 0; variant < 5; ++variant) {
            const int64_t n = rows * wq;
            KernelCase c{3, variant == 4 ? wq : 0, n, wq, wq - 1, n + 5, 0.6, variant == 1,
                         variant >= 2, variant % 2 == 0, variant == 3 ? 0.0f : -inf, inf};
            c.shifts = shifts;
            c.flags = kernels::kSpconvOverread | kernels::kSpconvZeroPastTile;
            c.zero_col0 = true;
            c.with_res = variant == 3;
            run_case(kernel, c, seed++);
            if (::testing::Test::HasFatalFailure()) return;
          }
    ++tested;
  }
  EXPECT_GE(tested, 3);
}

TEST(SpconvKernels, NanPropagatesThroughClamp) {
  for (const auto& kernel : dispatch::spconv_kernels()) {
    if (!base::isa_usable(kernel.isa)) continue;
    const int mr = kernel.mr;
    std::vector<float> x(40, 1.0f);
    x[5] = std::nanf("");
    std::vector<int32_t> indptr{0, 1}, offsets{0};
    std::vector<float> values(static_cast<size_t>(mr), 1.0f), y(static_cast<size_t>(mr * 20));
    kernel.fn(mr, 0, 20, indptr.data(), 1, 1, nullptr, offsets.data(), values.data(), x.data(),
              nullptr, nullptr, 0, nullptr, y.data(), nullptr, 20, 20, 20, 0.0f, 6.0f, 0);
    for (int r = 0; r < mr; ++r) {
      EXPECT_TRUE(std::isnan(y[r * 20 + 5])) << kernel.name;
      EXPECT_EQ(y[r * 20 + 4], 1.0f) << kernel.name;
    }
    // A NaN in the residual propagates too; -10 + 1 clamps to 0.
    std::vector<float> res(y.size(), 0.5f);
    res[7] = std::nanf("");
    res[9] = -10.0f;
    kernel.fn(mr, 0, 20, indptr.data(), 1, 1, nullptr, offsets.data(), values.data(), x.data(),
              nullptr, nullptr, 0, nullptr, y.data(), res.data(), 20, 20, 20, 0.0f, 6.0f, 0);
    EXPECT_TRUE(std::isnan(y[7])) << kernel.name;
    EXPECT_TRUE(std::isnan(y[5])) << kernel.name;
    EXPECT_EQ(y[9], 0.0f) << kernel.name;
    EXPECT_EQ(y[4], 1.5f) << kernel.name;
  }
}

// Every dwconv kernel against the reference, stride 1 and 2: planes below, at and above the
// 8-, 16- and 32-lane strips (w 1..65), single rows and columns, bias, residual (also in place),
// ReLU6, NaN, and with / without over-reading past the plane.
TEST(DwconvKernels, MatchReferenceOverEdgeSweep) {
  const auto& table = dispatch::dwconv_kernels();
  const dispatch::DwconvKernel* ref = nullptr;
  for (const auto& k : table)
    if (k.isa == base::Isa::kScalar) ref = &k;
  ASSERT_NE(ref, nullptr);
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const float inf = std::numeric_limits<float>::infinity();
  int checked = 0;
  for (const auto& k : table) {
    if (!base::isa_usable(k.isa) || &k == ref) continue;
    for (int stride : {1, 2}) {
      for (int64_t h : {1, 2, 3, 7, 14}) {
        for (int64_t w : {1, 2, 7, 14, 15, 16, 17, 31, 32, 33, 48, 49, 64, 65}) {
          const int64_t ho = (h - 1) / stride + 1, wo = (w - 1) / stride + 1;
          for (int variant = 0; variant < 4; ++variant) {
            const bool with_res = variant & 1, relu6 = variant & 2, overread = (h + w) % 2 == 0;
            // x is followed by 16 readable floats only when the kernel may over-read.
            std::vector<float> x(static_cast<size_t>(h * w + (overread ? 16 : 0)));
            std::vector<float> kw(9), res(static_cast<size_t>(ho * wo));
            for (auto& v : x) v = val(rng);
            for (auto& v : kw) v = val(rng);
            for (auto& v : res) v = val(rng);
            if (variant == 3) x[static_cast<size_t>(h * w / 2)] = std::nanf("");
            const float bias = val(rng), lo = relu6 ? 0.0f : -inf, hi = relu6 ? 6.0f : inf;
            std::vector<float> want(res.size()), got(want.size(), -7.0f);
            ref->fn(h, w, stride, x.data(), kw.data(), bias, with_res ? res.data() : nullptr,
                    want.data(), lo, hi, 0);
            k.fn(h, w, stride, x.data(), kw.data(), bias, with_res ? res.data() : nullptr,
                 got.data(), lo, hi, overread ? 1 : 0);
            std::vector<float> in_place = res;  // y is the residual itself
            if (with_res)
              k.fn(h, w, stride, x.data(), kw.data(), bias, in_place.data(), in_place.data(), lo,
                   hi, 0);
            for (size_t i = 0; i < want.size(); ++i) {
              const std::string where = std::string(k.name) + " stride=" +
                                        std::to_string(stride) + " h=" + std::to_string(h) +
                                        " w=" + std::to_string(w) + " variant=" +
                                        std::to_string(variant) + " at " + std::to_string(i);
              if (std::isnan(want[i])) {
                ASSERT_TRUE(std::isnan(got[i])) << where;
                continue;
              }
              ASSERT_NEAR(got[i], want[i], 1e-5f) << where;
              if (with_res) ASSERT_NEAR(in_place[i], want[i], 1e-5f) << "in place " << where;
            }
            ++checked;
          }
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no SIMD dwconv kernel usable on this CPU";
}

// Every padrows kernel (the reference included) against the contract, element for element:
// row widths below, at and above the 8- and 16-lane vectors, kept columns [j0, j1) anywhere in
// the row (none, one, whole), strides 1-3, several rows with gaps between them. The source is
// exactly the readable span [lo, hi) (ASan catches a read outside it), its floats that no
// output names are NaN (a kernel may read them but must not keep them), and the gaps between
// destination rows must stay untouched.
TEST(PadrowsKernels, MatchContractOverEdgeSweep) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> val(-1.0f, 1.0f);
  const float sentinel = -7.0f;
  int checked = 0;
  for (const auto& k : dispatch::padrows_kernels()) {
    if (!base::isa_usable(k.isa)) continue;
    for (int64_t sw : {1, 2, 3})
      for (int64_t wq : {1, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 58, 64, 100})
        for (int64_t j0 : {0, 1, 2, 9})
          for (int64_t kept : {0, 1, 7, 8, 15, 16, 17, 56, 1000}) {
            if (j0 > wq) continue;
            const int64_t j1 = std::min(wq, j0 + kept);
            for (int64_t rows : {1, 3}) {
              const int64_t head = (wq + j0) % 3 * 5, lds = (j1 - j0) * sw + (rows == 3 ? 4 : 0);
              const int64_t ldd = wq + (rows == 3 ? 3 : 0);
              const int64_t used = j1 > j0 ? (rows - 1) * lds + (j1 - j0 - 1) * sw + 1 : 0;
              std::vector<float> src(static_cast<size_t>(head + used + (kept % 2) * 20),
                                     std::nanf(""));
              std::vector<float> want(static_cast<size_t>(rows * ldd), sentinel);
              for (int64_t r = 0; r < rows; ++r)
                for (int64_t j = 0; j < wq; ++j) {
                  float v = 0.0f;
                  if (j >= j0 && j < j1) {
                    v = val(rng);
                    src[static_cast<size_t>(head + r * lds + (j - j0) * sw)] = v;
                  }
                  want[static_cast<size_t>(r * ldd + j)] = v;
                }
              std::vector<float> got(want.size(), sentinel);
              const float* s0 = src.data() + head;
              k.fn(rows, wq, j0, j1, sw, s0, lds, got.data(), ldd, src.data(),
                   src.data() + src.size());
              for (size_t i = 0; i < want.size(); ++i)
                ASSERT_EQ(got[i], want[i])
                    << k.name << " sw=" << sw << " wq=" << wq << " j0=" << j0 << " j1=" << j1
                    << " rows=" << rows << " at " << i;
              ++checked;
            }
          }
  }
  EXPECT_GT(checked, 0);
}

// Naive NCHW convolution (zero padding, groups) + optional residual, then ReLU: the op-level
// oracle.
std::vector<float> naive_conv(const std::vector<float>& x, int64_t n, int64_t h, int64_t w,
                              const std::vector<float>& wt, const std::vector<float>& bias,
                              const ops::ConvParams& p, const float* res = nullptr) {
  const int64_t ho = p.out_h(h), wo = p.out_w(w), cg = p.in_channels / p.groups,
                og = p.out_channels / p.groups;
  std::vector<float> y(static_cast<size_t>(n * p.out_channels * ho * wo));
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < p.out_channels; ++o)
      for (int64_t oy = 0; oy < ho; ++oy)
        for (int64_t ox = 0; ox < wo; ++ox) {
          double acc = bias.empty() ? 0.0 : bias[o];
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t ky = 0; ky < p.kh; ++ky)
              for (int64_t kx = 0; kx < p.kw; ++kx) {
                const int64_t iy = oy * p.stride_h + ky - p.pad_h, ix = ox * p.stride_w + kx - p.pad_w;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                const int64_t c = (o / og) * cg + ci;
                acc += double{wt[((o * cg + ci) * p.kh + ky) * p.kw + kx]} *
                       x[((b * p.in_channels + c) * h + iy) * w + ix];
              }
          const int64_t at = ((b * p.out_channels + o) * ho + oy) * wo + ox;
          if (res) acc += res[at];
          y[at] = static_cast<float>(std::max(acc, 0.0));
        }
  return y;
}

struct ConvGeom { int64_t n, c, o, h, w, k, s, pad, groups; };

// DirectConv2d (CSR, BSR 4x1, dense blocks) against naive_conv under every usable ISA path and
// 1 and 2 threads; with `residual`, y = relu(conv + bias + res) (DnnlConv2d too when built).
void direct_paths_match_naive(const std::vector<ConvGeom>& geoms, bool residual,
                              const std::string& note) {
  const base::Isa saved = base::active_isa();
  for (base::Isa isa : base::usable_isas()) {
    base::set_active_isa_cap(isa);
    for (const ConvGeom& g : geoms) {
      ops::ConvParams p;
      p.out_channels = g.o; p.in_channels = g.c; p.kh = p.kw = g.k;
      p.stride_h = p.stride_w = g.s; p.pad_h = p.pad_w = g.pad; p.groups = g.groups;
      p.act = Activation::kRelu;
      std::mt19937 rng(static_cast<uint32_t>(g.c * 31 + g.k));
      std::uniform_real_distribution<float> val(-1.0f, 1.0f);
      std::vector<float> wt(static_cast<size_t>(g.o * p.cols())), bias(static_cast<size_t>(g.o));
      for (auto& v : wt) v = rng() % 3 ? 0.0f : val(rng);
      for (auto& v : bias) v = val(rng);
      std::vector<float> x(static_cast<size_t>(g.n * g.c * g.h * g.w));
      for (auto& v : x) v = val(rng);
      std::vector<float> res(residual ? static_cast<size_t>(g.n * g.o * p.out_h(g.h) * p.out_w(g.w)) : 0);
      for (auto& v : res) v = 2.0f * val(rng);
      const float* rp = residual ? res.data() : nullptr;
      const auto ref = naive_conv(x, g.n, g.h, g.w, wt, bias, p, rp);
      std::vector<float> y(ref.size());
      const CsrMatrix csr = CsrMatrix::from_dense(wt.data(), g.o, p.cols());
      const BsrMatrix bsr = BsrMatrix::from_dense(wt.data(), g.o, p.cols(), 4, 1);
      std::vector<std::unique_ptr<ops::DirectConv2d>> convs;
      convs.push_back(std::make_unique<ops::DirectConv2d>(csr, p, bias));
      convs.push_back(std::make_unique<ops::DirectConv2d>(bsr, p, bias));
      convs.push_back(ops::DirectConv2d::dense(wt.data(), p, bias));
      for (const auto& conv : convs)
        for (int threads : {1, 2}) {
          std::fill(y.begin(), y.end(), -1.0f);
          conv->run(x.data(), g.n, g.h, g.w, y.data(), threads, rp);
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], ref[i], 1e-4f)
                << conv->kernel_name() << " threads=" << threads << " isa=" << base::isa_name(isa)
                << " c=" << g.c << " o=" << g.o << " h=" << g.h << " k=" << g.k << " s=" << g.s
                << " groups=" << g.groups << " residual=" << residual << " " << note << " at " << i;
          if (!residual) continue;
          y = res;  // in place: the residual is y itself (the graph planner's buffer reuse)
          conv->run(x.data(), g.n, g.h, g.w, y.data(), threads, y.data());
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_NEAR(y[i], ref[i], 1e-4f)
                << "in place " << conv->kernel_name() << " threads=" << threads
                << " isa=" << base::isa_name(isa) << " c=" << g.c << " o=" << g.o << " h=" << g.h
                << " k=" << g.k << " s=" << g.s << " groups=" << g.groups << " " << note
                << " at " << i;
        }
      if (residual && ops::have_onednn()) {
        ops::DnnlConv2d dnnl(wt.data(), p, bias);
        std::fill(y.begin(), y.end(), -1.0f);
        dnnl.run(x.data(), g.n, g.h, g.w, y.data(), 2, rp);
        for (size_t i = 0; i < y.size(); ++i)
          ASSERT_NEAR(y[i], ref[i], 1e-3f) << "oneDNN c=" << g.c << " k=" << g.k << " at " << i;
      }
    }
  }
  base::set_active_isa_cap(saved);
}

TEST(DirectConv2d, CsrBsrDenseMatchNaiveOnEveryPath) {
  direct_paths_match_naive({{1, 8, 16, 13, 11, 3, 1, 1, 1}, {2, 8, 8, 9, 9, 3, 2, 1, 1},
                            {1, 8, 16, 7, 7, 1, 1, 0, 2},   {1, 8, 8, 10, 10, 5, 2, 2, 8},
                            {1, 4, 8, 12, 12, 7, 2, 3, 1},
                            {2, 8, 8, 9, 19, 3, 1, 1, 8},   // depthwise 3x3: dwconv kernels
                            {2, 8, 8, 9, 19, 3, 2, 1, 8},   {1, 4, 4, 36, 35, 3, 2, 1, 4}},
                           false, "");
}

TEST(DnnlConv2d, MatchesNaiveWhenBuilt) {
  if (!ops::have_onednn()) GTEST_SKIP() << "built without oneDNN";
  struct G { int64_t n, c, o, h, w, k, s, pad, groups; };
  const G geoms[] = {{1, 8, 16, 13, 11, 3, 1, 1, 1}, {2, 8, 8, 9, 9, 3, 2, 1, 1},
                     {1, 16, 8, 14, 14, 1, 1, 0, 1}, {1, 8, 8, 10, 10, 5, 2, 2, 8}};
  for (const G& g : geoms) {
    ops::ConvParams p;
    p.out_channels = g.o; p.in_channels = g.c; p.kh = p.kw = g.k;
    p.stride_h = p.stride_w = g.s; p.pad_h = p.pad_w = g.pad; p.groups = g.groups;
    p.act = Activation::kRelu;
    std::mt19937 rng(static_cast<uint32_t>(g.c * 7 + g.k));
    std::uniform_real_distribution<float> val(-1.0f, 1.0f);
    std::vector<float> wt(static_cast<size_t>(g.o * p.cols())), bias(static_cast<size_t>(g.o));
    for (auto& v : wt) v = val(rng);
    for (auto& v : bias) v = val(rng);
    std::vector<float> x(static_cast<size_t>(g.n * g.c * g.h * g.w));
    for (auto& v : x) v = val(rng);
    const auto ref = naive_conv(x, g.n, g.h, g.w, wt, bias, p);
    ops::DnnlConv2d conv(wt.data(), p, bias);
    for (int threads : {1, 2}) {
      std::vector<float> y(ref.size(), -1.0f);
      conv.run(x.data(), g.n, g.h, g.w, y.data(), threads);
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_NEAR(y[i], ref[i], 1e-3f) << "threads=" << threads << " c=" << g.c << " k=" << g.k
                                         << " s=" << g.s << " groups=" << g.groups << " at " << i;
    }
  }
}

// A stem (3 input channels) gets one of oneDNN's jit kernels, not its reference one (which
// DnnlConv2d got with a blocked source layout: ~2400x slower); narrow grouped convs have none,
// hence prefer_onednn.
TEST(DnnlConv2d, StemAvoidsTheReferenceKernel) {
  if (!ops::have_onednn()) GTEST_SKIP() << "built without oneDNN";
  ops::ConvParams stem;
  stem.out_channels = 64; stem.in_channels = 3; stem.kh = stem.kw = 7;
  stem.stride_h = stem.stride_w = 2; stem.pad_h = stem.pad_w = 3;
  std::vector<float> w(static_cast<size_t>(64 * stem.cols()), 0.5f);
  const ops::DnnlConv2d conv(w.data(), stem, {});
  for (int threads : {1, 2}) {
    const std::string impl = conv.implementation(1, 224, 224, threads);
    EXPECT_FALSE(impl.empty() || impl.rfind("ref", 0) == 0) << impl;
  }
  EXPECT_FALSE(ops::prefer_onednn(stem));
  ops::ConvParams grouped;
  grouped.out_channels = grouped.in_channels = 32; grouped.kh = grouped.kw = 3;
  grouped.groups = 4;
  EXPECT_FALSE(ops::prefer_onednn(grouped));
  grouped.groups = 2;  // 16 channels per group
  EXPECT_TRUE(ops::prefer_onednn(grouped));
}

// conv + residual + ReLU on every path, with input-channel blocks of 3 (the partial-sum
// passes: the residual must be added once, in the last block's epilogue) and with the default
// blocking; strided/padded geometries exercise the garbage columns of the extended grid.
TEST(DirectConv2d, ResidualMatchesNaiveOnEveryPath) {
  const std::vector<ConvGeom> geoms = {
      {1, 8, 16, 13, 11, 3, 1, 1, 1}, {2, 8, 8, 9, 9, 3, 2, 1, 1},   {1, 8, 16, 7, 7, 1, 1, 0, 2},
      {1, 16, 8, 10, 10, 1, 2, 0, 1}, {1, 8, 8, 10, 10, 5, 2, 2, 8},  {1, 12, 8, 19, 17, 3, 1, 1, 1},
      {2, 8, 8, 9, 19, 3, 1, 1, 8},   {2, 8, 8, 9, 19, 3, 2, 1, 8}};  // the last two: dwconv
  setenv("SPARSE_RT_CONV_CBLOCK", "3", 1);
  direct_paths_match_naive(geoms, true, "cblock=3");
  unsetenv("SPARSE_RT_CONV_CBLOCK");
  direct_paths_match_naive(geoms, true, "cblock=auto");
}

// The residual may be x itself (y = conv(x) + x) or y itself (in place), but must not
// otherwise overlap y; oneDNN's path (conv first, then the add) refuses y itself too.
TEST(DirectConv2d, ResidualMayBeXOrYButNotOverlapY) {
  ops::ConvParams p;
  p.out_channels = 4; p.in_channels = 4; p.kh = p.kw = 1;
  std::vector<float> wt(16, 0.0f);
  for (int i = 0; i < 4; ++i) wt[i * 4 + i] = 2.0f;  // y = 2x
  auto conv = ops::DirectConv2d::dense(wt.data(), p, {});
  std::vector<float> x(4 * 9), y(4 * 9);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i) - 10.0f;
  EXPECT_THROW(conv->run(x.data(), 1, 3, 3, y.data(), 1, y.data() + 5), InvalidArgument);
  conv->run(x.data(), 1, 3, 3, y.data(), 1, x.data());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], 3.0f * x[i]) << i;
  std::vector<float> r(y.size(), 1.0f);
  y = r;
  conv->run(x.data(), 1, 3, 3, y.data(), 1, y.data());
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], 2.0f * x[i] + 1.0f) << i;
  if (ops::have_onednn()) {
    ops::DnnlConv2d dnnl(wt.data(), p, {});
    EXPECT_THROW(dnnl.run(x.data(), 1, 3, 3, y.data(), 1, y.data()), InvalidArgument);
  }
}

TEST(DirectConv2d, RejectsBadShapes) {
  ops::ConvParams p;
  p.out_channels = 4; p.in_channels = 4; p.kh = p.kw = 3; p.pad_h = p.pad_w = 0;
  const std::vector<float> wt(static_cast<size_t>(4 * 36), 1.0f);
  auto conv = ops::DirectConv2d::dense(wt.data(), p, {});
  std::vector<float> x(4 * 2 * 2), y(16);
  EXPECT_THROW(conv->run(x.data(), 1, 2, 2, y.data(), 1), InvalidArgument);
  const CsrMatrix wrong = CsrMatrix::from_dense(wt.data(), 4, 35);
  EXPECT_THROW(ops::DirectConv2d(wrong, p, {}), InvalidArgument);
  p.groups = 3;
  EXPECT_THROW(ops::DirectConv2d::dense(wt.data(), p, {}), InvalidArgument);
}

}  // namespace
}  // namespace sparse_rt
