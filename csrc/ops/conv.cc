#include "ops/conv.h"

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "base/isa.h"
#include "base/threads.h"
#include "sparse_rt/status.h"

namespace sparse_rt::ops {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

void check_bias(const std::vector<float>& bias, int64_t rows) {
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != rows)
    throw InvalidArgument("Conv2d: bias has " + str(static_cast<int64_t>(bias.size())) +
                          " values, expected " + str(rows) + " (one per output channel)");
}

// First row group of part `t` of `parts`, weighting each group by (entries + 1).
int64_t balanced_group(const int32_t* indptr, int64_t groups, int parts, int t) {
  const int64_t total = int64_t{indptr[groups]} - indptr[0] + groups;
  const int64_t target = total * t / parts;
  int64_t lo = 0, hi = groups;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (int64_t{indptr[mid]} - indptr[0] + mid < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Readable zeros after the copied input: the kernels' `overread` allowance (63 floats).
constexpr int64_t kSlack = 64;

// This thread's scratch (slot 0: the phase-split input rows, slot 1: partial sums), 64-byte
// aligned and kept between calls, so large layers do not pay page faults on fresh mmap'd
// blocks every call.
float* workspace(size_t floats, int slot = 0) {
  thread_local std::vector<float> slots[2];
  std::vector<float>& ws = slots[slot];
  if (ws.size() < floats + 16) {
    ws.clear();
    ws.shrink_to_fit();
    ws.resize(floats + 16);
  }
  const uintptr_t p = reinterpret_cast<uintptr_t>(ws.data());
  return ws.data() + ((64 - p % 64) % 64) / sizeof(float);
}

int64_t env_int(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::max<int64_t>(1, std::atoll(v)) : fallback;
}

}  // namespace

void ConvParams::validate() const {
  auto positive = [](int64_t v, const char* name) {
    if (v < 1) throw InvalidArgument(std::string("Conv2d: ") + name + " must be >= 1, got " + str(v));
  };
  positive(out_channels, "out_channels");
  positive(in_channels, "in_channels");
  positive(kh, "kernel height");
  positive(kw, "kernel width");
  positive(stride_h, "stride");
  positive(stride_w, "stride");
  positive(groups, "groups");
  if (pad_h < 0 || pad_w < 0)
    throw InvalidArgument("Conv2d: padding must be >= 0, got (" + str(pad_h) + ", " + str(pad_w) + ")");
  if (in_channels % groups || out_channels % groups)
    throw InvalidArgument("Conv2d: groups=" + str(groups) + " must divide in_channels=" +
                          str(in_channels) + " and out_channels=" + str(out_channels));
  if (kh > 4096 || kw > 4096 || stride_h > 4096 || stride_w > 4096 || pad_h > 4096 || pad_w > 4096)
    throw InvalidArgument("Conv2d: kernel size, stride and padding must be <= 4096");
}

void check_residual(const ConvParams& p, const float* x, int64_t n, int64_t h, int64_t w,
                    const float* y, const float* res, bool in_place) {
  if (!res) return;
  auto overlap = [](const float* a, int64_t na, const float* b, int64_t nb) {
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return pa < pb + static_cast<uintptr_t>(nb) * 4 && pb < pa + static_cast<uintptr_t>(na) * 4;
  };
  (void)x;  // the residual may be x itself (both are only read): y = act(conv(x) + x)
  const int64_t ny = n * p.out_channels * p.out_h(h) * p.out_w(w);
  if (!(in_place && res == y) && overlap(res, ny, y, ny))
    throw InvalidArgument(in_place ? "Conv2d: the residual must be y itself or not overlap it"
                                   : "Conv2d: the residual must not overlap y");
}

void ConvParams::check_input(int64_t n, int64_t c, int64_t h, int64_t w) const {
  if (n < 0 || h < 1 || w < 1 || c != in_channels)
    throw InvalidArgument("Conv2d: x must have shape (N, " + str(in_channels) +
                          ", H, W) with H, W >= 1, got (" + str(n) + ", " + str(c) + ", " +
                          str(h) + ", " + str(w) + ")");
  if (h + 2 * pad_h < kh || w + 2 * pad_w < kw)
    throw InvalidArgument("Conv2d: input " + str(h) + "x" + str(w) + " with padding (" +
                          str(pad_h) + ", " + str(pad_w) + ") is smaller than the kernel " +
                          str(kh) + "x" + str(kw));
}

DirectConv2d::DirectConv2d(const ConvParams& p, std::vector<float> bias, int mr)
    : p_(p), bias_(std::move(bias)), clamp_(clamp_for(p.act)), mr_(mr) {
  p_.validate();
  check_bias(bias_, p_.out_channels);
}

const dispatch::DwconvKernel* depthwise_kernel(const ConvParams& p, base::Isa isa) {
  const bool dw3x3 = p.groups == p.in_channels && p.groups == p.out_channels && p.kh == 3 &&
                     p.kw == 3 && p.stride_h == p.stride_w && p.stride_h <= 2 &&
                     p.pad_h == 1 && p.pad_w == 1;
  return dw3x3 ? dispatch::select_dwconv(isa) : nullptr;
}

void DirectConv2d::finish() {
  const int64_t og = p_.out_channels / p_.groups;
  if (og % mr_) throw Error("DirectConv2d: row group does not divide the conv group");
  if (static_cast<int64_t>(cols_.size()) > std::numeric_limits<int32_t>::max())
    throw InvalidArgument("Conv2d: more than 2^31 stored weights");
  kernel_ = &dispatch::select_spconv(base::active_isa(), mr_);
  padrows_ = &dispatch::select_padrows(base::active_isa());
  dw_ = mr_ == 1 ? depthwise_kernel(p_, base::active_isa()) : nullptr;
  if (dw_) {  // one row group per channel, its entries' columns are the taps ky * 3 + kx
    dw_weights_.assign(static_cast<size_t>(p_.out_channels * 9), 0.0f);
    for (int64_t c = 0; c < p_.out_channels; ++c)
      for (int32_t e = indptr_[c]; e < indptr_[c + 1]; ++e)
        dw_weights_[c * 9 + cols_[e]] = values_[e];
  }
}

DirectConv2d::DirectConv2d(const CsrMatrix& w, const ConvParams& p, std::vector<float> bias)
    : DirectConv2d(p, std::move(bias), 1) {
  w.validate();
  if (w.rows != p_.out_channels || w.cols != p_.cols())
    throw InvalidArgument("Conv2d: CSR weight must have shape (" + str(p_.out_channels) + ", " +
                          str(p_.cols()) + ") = (out_channels, in_channels/groups*kh*kw), got (" +
                          str(w.rows) + ", " + str(w.cols) + ")");
  indptr_.assign(1, 0);
  std::vector<std::pair<int32_t, float>> row;
  for (int64_t r = 0; r < w.rows; ++r) {
    row.clear();
    for (int32_t q = w.indptr[r]; q < w.indptr[r + 1]; ++q) row.emplace_back(w.indices[q], w.data[q]);
    std::sort(row.begin(), row.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [c, v] : row) {
      cols_.push_back(c);
      values_.push_back(v);
    }
    indptr_.push_back(static_cast<int32_t>(cols_.size()));
  }
  finish();
}

DirectConv2d::DirectConv2d(const BsrMatrix& w, const ConvParams& p, std::vector<float> bias)
    : DirectConv2d(p, std::move(bias), 1) {
  w.validate();
  if (w.rows != p_.out_channels || w.cols != p_.cols())
    throw InvalidArgument("Conv2d: BSR weight must have shape (" + str(p_.out_channels) + ", " +
                          str(p_.cols()) + ") = (out_channels, in_channels/groups*kh*kw), got (" +
                          str(w.rows) + ", " + str(w.cols) + ")");
  const int64_t og = p_.out_channels / p_.groups;
  const int32_t br = w.block_rows, bc = w.block_cols;
  mr_ = 1;
  for (int cand : {8, 4})
    if (br % cand == 0 && og % cand == 0) {
      mr_ = cand;
      break;
    }
  indptr_.assign(1, 0);
  const int64_t block_rows = w.rows / br, sub = br / mr_;
  for (int64_t b = 0; b < block_rows; ++b)
    for (int64_t s = 0; s < sub; ++s) {
      // (column, block) pairs of this block row, sorted by column.
      std::vector<std::pair<int32_t, int32_t>> blocks;
      for (int32_t k = w.indptr[b]; k < w.indptr[b + 1]; ++k) blocks.emplace_back(w.indices[k], k);
      std::sort(blocks.begin(), blocks.end());
      for (const auto& [bcol, k] : blocks)
        for (int32_t j = 0; j < bc; ++j) {
          const float* blk = w.data.data() + int64_t{k} * br * bc;
          bool any = false;
          for (int r = 0; r < mr_; ++r) any |= blk[(s * mr_ + r) * bc + j] != 0.0f;
          if (!any) continue;
          cols_.push_back(bcol * bc + j);
          for (int r = 0; r < mr_; ++r) values_.push_back(blk[(s * mr_ + r) * bc + j]);
        }
      indptr_.push_back(static_cast<int32_t>(cols_.size()));
    }
  finish();
}

std::unique_ptr<DirectConv2d> DirectConv2d::dense(const float* w, const ConvParams& p,
                                                   std::vector<float> bias) {
  p.validate();
  const int64_t og = p.out_channels / p.groups, cg = p.in_channels / p.groups;
  int mr = 1;
  if (cg > 1)  // depthwise (one input channel per group) stays at one row per group
    for (int cand : {8, 4})
      if (og % cand == 0) {
        mr = cand;
        break;
      }
  std::unique_ptr<DirectConv2d> op(new DirectConv2d(p, std::move(bias), mr));
  const int64_t cols = p.cols();
  op->indptr_.assign(1, 0);
  for (int64_t g = 0; g < p.out_channels / mr; ++g) {
    for (int64_t c = 0; c < cols; ++c) {
      bool any = false;
      for (int r = 0; r < mr; ++r) any |= w[(g * mr + r) * cols + c] != 0.0f;
      if (!any) continue;
      op->cols_.push_back(static_cast<int32_t>(c));
      for (int r = 0; r < mr; ++r) op->values_.push_back(w[(g * mr + r) * cols + c]);
    }
    op->indptr_.push_back(static_cast<int32_t>(op->cols_.size()));
  }
  op->finish();
  return op;
}

void DirectConv2d::shape_plan(int64_t h, int64_t w, Plan& plan) const {
  const int64_t sh = p_.stride_h, sw = p_.stride_w;
  // Copy unless the conv is stride 1 without padding; tiny planes are copied anyway so the
  // kernels may over-read their tails instead of using (slow) masked loads. On AVX-512, planes
  // that are not 16-float multiples (14^2 = 196) are copied too: in place, three channels in
  // four start off a 64-byte boundary and most loads straddle two cache lines, while the copy
  // into aligned planes is one memcpy per plane (padrows). Measured (2 threads, s = 0.9): 1x1
  // 512@14^2 0.134 -> 0.116 ms, 256->1024@14^2 0.133 -> 0.105, 1024->256@14^2 equal at batch 1
  // (20% slower with cold caches, 8-15% faster at batch 16; ResNet-50 equal either way). AVX2's
  // 32-byte loads straddle half as often and there the copy lost (1x1 1024->256@14^2 0.144 ->
  // 0.171 ms, 512@14^2 equal), so AVX2 reads in place.
  const bool misaligned = (h * w) % 16 != 0 && kernel_->isa == base::Isa::kAvx512;
  plan.copy = !(sh == 1 && sw == 1 && p_.pad_h == 0 && p_.pad_w == 0) || h * w < 128 || misaligned;
  if (plan.copy) {
    const int64_t hp = h + 2 * p_.pad_h, wp = w + 2 * p_.pad_w;
    plan.hq = (hp + sh - 1) / sh;
    plan.wq = (wp + sw - 1) / sw;
    plan.phases_r = std::min(sh, p_.kh);
    plan.phases_c = std::min(sw, p_.kw);
  } else {
    plan.hq = h;
    plan.wq = w;
    plan.phases_r = plan.phases_c = 1;
  }
  // Shifted taps: a tap's column shift kx / sw goes to the kernel, which moves its
  // accumulators instead of its loads, so with rows padded to a 16-float multiple every load
  // is aligned (a load across two cache lines costs the L1 an extra access; see
  // docs/architecture-conv.md). The kernels need whole rows per register tile (wq divides
  // nr: the plan takes the kernel with the largest such tile); the padding may add at most a
  // quarter more pixels. AVX2 took only rows that need none while its CSR tile had 4 vectors
  // (3x3 128@28^2, rows 30 -> 32: 0.379 -> 0.409 ms, 2 threads); with 8 the widening pays
  // there too (1 thread, s = 0.9: 3x3 64@56^2 0.70 -> 0.60 ms, 128@28^2 0.62-0.64 -> 0.56,
  // 3x3/2 256@28^2 0.72 -> 0.65). SPARSE_RT_CONV_SHIFTED=0 turns it off.
  const char* shifted_env = std::getenv("SPARSE_RT_CONV_SHIFTED");
  const bool may_shift =
      plan.copy && p_.kw > sw && !(shifted_env && std::string(shifted_env) == "0");
  const int64_t wq16 = (plan.wq + 15) / 16 * 16;
  const dispatch::SpconvKernel* rows_kernel = dispatch::select_spconv_rows(*kernel_, wq16);
  plan.kernel = kernel_;
  plan.zero_past_tile = false;
  bool shifted = false;
  if (may_shift && rows_kernel && 4 * wq16 <= 5 * plan.wq) {
    plan.kernel = rows_kernel;
    plan.wq = wq16;
    shifted = true;
  } else if (may_shift && kernel_->isa != base::Isa::kScalar && mr_ == 1) {
    // Planes of 7x7-sized rows: several rows per vector, the tap's whole in-plane offset mod
    // the vector as its shift (AVX-512: the image in one register tile; AVX2, 8 floats: rows
    // of 8 are one vector each, the shift is the column's, and tiles hold whole rows). Stride
    // 1 pitch w + pad: a row's right padding is the next row's left padding (both zeros). Only
    // for one output channel per row group: the 4-channel kernel, not load-bound, got 5%
    // slower (BSR 4x1 3x3 512@7^2 s = 0.9: 0.163 -> 0.171 ms).
    const bool share_pad = sh == 1 && sw == 1 && p_.pad_w >= 1 && p_.pad_w < p_.kw;
    const int64_t wq = share_pad ? w + p_.pad_w : plan.wq;
    const dispatch::SpconvKernel* k = dispatch::select_spconv_rows(*kernel_, wq);
    if (plan.lanes() % wq == 0 && k && p_.out_h(h) * wq <= k->nr &&
        past_tile_reads_zero(wq, plan.hq, h, w, plan.lanes())) {
      plan.kernel = k;
      plan.wq = wq;
      plan.zero_past_tile = true;
      shifted = true;
    }
  }
  plan.shift.clear();
  if (shifted) {  // the distinct shifts of the taps, largest first (kw > sw: at least two)
    for (int64_t ky = 0; ky < p_.kh; ++ky)
      for (int64_t kx = 0; kx < p_.kw; ++kx)
        plan.shift.push_back(tap_shift(plan.wq, ky, kx, plan.lanes()));
    std::sort(plan.shift.rbegin(), plan.shift.rend());
    plan.shift.erase(std::unique(plan.shift.begin(), plan.shift.end()), plan.shift.end());
  }
  plan.shifts = std::max<int>(1, static_cast<int>(plan.shift.size()));
}

int32_t DirectConv2d::tap_shift(int64_t wq, int64_t ky, int64_t kx, int lanes) const {
  return static_cast<int32_t>(((ky / p_.stride_h) * wq + kx / p_.stride_w) % lanes);
}

bool DirectConv2d::past_tile_reads_zero(int64_t wq, int64_t hq, int64_t h, int64_t w,
                                        int lanes) const {
  const int64_t sh = p_.stride_h, sw = p_.stride_w, hout = p_.out_h(h), wout = p_.out_w(w);
  const int64_t tile = (hout * wq + 15) / 16 * 16;  // the AVX-512 tile is at least this
  const bool per_row = lanes < 16;                  // AVX2: a tile may end after any row
  for (int64_t ky = 0; ky < p_.kh; ++ky)
    for (int64_t kx = 0; kx < p_.kw; ++kx) {
      const int64_t off = (ky / sh) * wq + kx / sw, s = tap_shift(wq, ky, kx, lanes);
      for (int64_t oy = 0; oy < hout; ++oy)
        for (int64_t ox = 0; ox < wout; ++ox) {
          const int64_t q = oy * wq + ox;
          if (per_row ? ox + s < wq : q + s < tile) continue;
          // What the copy holds at plane position q + off: padded (i*sh + py, j*sw + px).
          const int64_t i = (q + off) / wq, j = (q + off) % wq;
          const int64_t r = i * sh + ky % sh - p_.pad_h, c = j * sw + kx % sw - p_.pad_w;
          // Past the rows: the plane's zeroed tail, at least the last row's right padding
          // (plan_for); AVX2 rows of 8 read it, AVX-512's one tile never needs it.
          if (i >= hq && per_row && q + off < hq * wq + p_.pad_w) continue;
          if (i >= hq || (r >= 0 && r < h && c >= 0 && c < w)) return false;
        }
    }
  return true;
}

const char* DirectConv2d::kernel_name(int64_t h, int64_t w) const {
  if (dw_) return dw_->name;
  Plan plan;
  shape_plan(h, w, plan);
  return plan.kernel->name;
}

std::shared_ptr<const DirectConv2d::Plan> DirectConv2d::plan_for(int64_t h, int64_t w) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = plans_.find({h, w});
    if (it != plans_.end()) return it->second;
  }
  auto plan = std::make_shared<Plan>();
  shape_plan(h, w, *plan);
  const int64_t sh = p_.stride_h, sw = p_.stride_w;
  // Planes start on 64-byte boundaries so 1x1 (and kx = 0) taps load aligned vectors.
  // With rows sharing their padding columns, the last row's right padding lies past the rows.
  const int64_t rows_end = plan->hq * plan->wq + (plan->zero_past_tile ? p_.pad_w : 0);
  plan->plane = plan->copy ? (rows_end + 15) / 16 * 16 : plan->hq * plan->wq;
  const int64_t phases = plan->phases_r * plan->phases_c;
  if (p_.in_channels * phases * plan->plane >= std::numeric_limits<int32_t>::max())
    throw InvalidArgument("Conv2d: input " + str(h) + "x" + str(w) + " with " +
                          str(p_.in_channels) + " channels is too large for 32-bit offsets");
  const int64_t og = p_.out_channels / p_.groups, cg = p_.in_channels / p_.groups;
  const int64_t taps = p_.kh * p_.kw;
  const int64_t ngroups = static_cast<int64_t>(indptr_.size()) - 1;
  // Pixel tile and input-channel blocking (see docs/architecture-conv.md).
  const int64_t ext = plan->shifts > 1 ? p_.out_h(h) * plan->wq  // whole rows (run())
                                       : (p_.out_h(h) - 1) * plan->wq + p_.out_w(w);
  plan->tile = plan->zero_past_tile ? ext : std::min(ext, env_int("SPARSE_RT_CONV_TILE", 256));
  // Input channels per block: the channels whose input window for one register tile (at
  // least 64 pixels) fits in ~24 KiB (L1), but at least enough for ~32 entries per row group
  // and block, so the partial-sum passes stay cheap (measured: -5..-9% time on 3x3 64@56^2,
  // 3x3 512@7^2, 1x1 2048@7^2 at s = 0.9). With several rows per vector the tile is the image,
  // and every pass also pays (shifts - 1) lane moves per vector: at least 16 entries per shift
  // (3x3 512@7^2 s = 0.9: blocks of 48 -> 112 channels, 0.237 -> ~0.22 ms; 128-176 measured best).
  // 1x1 CSR layers (MR = 1) onto at most 16^2 pixels (one tile holds the image) differ
  // (docs/architecture-conv.md, "Blocks of 1x1 layers onto small images"; s = 0.9, C++): on
  // AVX-512 their window per channel is one chunk, so 32 entries meant ~320 channels (80 KiB,
  // out of L1) and 16 keep ~160 (2048->512@7^2 0.233 -> 0.214 ms, 1024->256@14^2 0.204 ->
  // 0.194, 1 thread); outputs of fewer vectors pay a pass's fixed cost over less work, so
  // 64 / vectors (1x1/2 2048->512@7^2, one vector: 0.121 -> 0.116 ms, 2 threads). AVX2's
  // 32-pixel tiles make twice the passes: onto 7^2 it takes 64 (2048->512@7^2 0.373 -> 0.34
  // ms). 3x3, BSR (MR = 4, not load-bound) and larger images keep 32 (with 16: 3x3 64@56^2
  // +3%, BSR 4x1 2048->512@7^2 +7%, 1x1 512->128@28^2 at s = 0.95 +3%).
  const int64_t span = (p_.kh - 1) / sh * plan->wq + (p_.kw - 1) / sw;
  // The window of one chunk: the image's extended pixels when they are fewer (outputs below
  // 7^2, e.g. 1x1/2 2048->512@7^2: 16 pixels, 64 B per channel, not 256).
  const int64_t chunk = plan->zero_past_tile
                            ? (ext + 15) / 16 * 16
                            : std::min<int64_t>(std::max<int64_t>(64, plan->kernel->nr),
                                                (ext + 15) / 16 * 16);
  const int64_t window = phases * (chunk + span) * static_cast<int64_t>(sizeof(float));
  const double per_channel = static_cast<double>(cols_.size()) /
                             std::max<int64_t>(1, ngroups * cg);  // entries per channel, group
  double min_entries = 32.0;
  if (plan->zero_past_tile)  // AVX2 moves lanes with two instructions, in half the pixels
    min_entries = (plan->lanes() == 16 ? 16.0 : 64.0) * plan->shifts;
  else if (taps == 1 && mr_ == 1 && ext <= 256 && plan->kernel->isa == base::Isa::kAvx512)
    min_entries = 64.0 / static_cast<double>(std::min<int64_t>(4, (ext + 15) / 16));
  else if (taps == 1 && mr_ == 1 && ext <= 64 && plan->kernel->isa == base::Isa::kAvx2)
    min_entries = 64.0;  // 1x1 onto 7^2
  int64_t min_cb = static_cast<int64_t>(min_entries / std::max(per_channel, 1e-9)) + 1;
  // Phase-split (strided) layers read phases planes per channel: the entry minimum alone let
  // their window grow to ~100 KiB (3x3/2 128@56^2 at s = 0.9: 40 channels), far past L1. There
  // the window stays within ~40 KiB (16 channels: 0.304 -> 0.273 ms, 2 threads).
  if (phases > 1 && !plan->zero_past_tile) min_cb = std::min(min_cb, 40960 / window);
  int64_t auto_cb = std::max<int64_t>({8, 24576 / window, min_cb});
  auto_cb = (auto_cb + 7) / 8 * 8;
  const int64_t cblock = std::min(cg, env_int("SPARSE_RT_CONV_CBLOCK", auto_cb));
  plan->blocks = (cg + cblock - 1) / cblock;
  // Entries in the plan's order: block-major (input-channel block, then row group), then
  // (shifted taps) by shift from largest to 0, keeping the op's column order within each, so a
  // block's pass streams its weights contiguously; group-major order made every pass stride
  // through all of them, which the prefetchers miss when the weights are not in cache, as in a
  // model (docs/architecture-conv.md). blockptr holds shifts + 1 positions per (block, group).
  const int64_t nb = plan->blocks, ns = plan->shifts, ips = ns + 1;
  std::vector<int32_t> tap_segment(static_cast<size_t>(taps), 0);
  std::vector<int32_t> tap_dx(static_cast<size_t>(taps), 0);
  for (int64_t t = 0; t < taps && ns > 1; ++t) {
    tap_dx[t] = tap_shift(plan->wq, t / p_.kw, t % p_.kw, plan->lanes());
    tap_segment[t] = static_cast<int32_t>(
        std::find(plan->shift.begin(), plan->shift.end(), tap_dx[t]) - plan->shift.begin());
  }
  auto segment = [&](int32_t e) {  // (block, segment within the block) of entry e
    const int64_t col = cols_[e];
    return std::make_pair(col / taps / cblock, int64_t{tap_segment[col % taps]});
  };
  std::vector<int32_t> next(static_cast<size_t>(nb * ngroups * ns), 0);  // [block][group][seg]
  for (int64_t g = 0; g < ngroups; ++g)
    for (int32_t e = indptr_[g]; e < indptr_[g + 1]; ++e) {
      const auto [b, j] = segment(e);
      ++next[(b * ngroups + g) * ns + j];
    }
  plan->blockptr.resize(static_cast<size_t>(nb * ngroups * ips));
  int32_t at = 0;
  for (int64_t bg = 0; bg < nb * ngroups; ++bg) {
    for (int64_t j = 0; j < ns; ++j) {
      const int32_t count = next[bg * ns + j];
      plan->blockptr[bg * ips + j] = next[bg * ns + j] = at;
      at += count;
    }
    plan->blockptr[bg * ips + ns] = at;
  }
  const bool reordered = nb > 1 || ns > 1;
  plan->offsets.resize(cols_.size());
  if (reordered) plan->values.resize(values_.size());
  for (int64_t g = 0; g < ngroups; ++g) {
    const int64_t channel_base = (g * mr_ / og) * cg;
    for (int32_t e = indptr_[g]; e < indptr_[g + 1]; ++e) {
      const auto [b, j] = segment(e);
      const int32_t pos = next[(b * ngroups + g) * ns + j]++;
      const int64_t col = cols_[e], ci = channel_base + col / taps, t = col % taps;
      const int64_t ky = t / p_.kw, kx = t % p_.kw;
      const int64_t phase = (ky % sh) * plan->phases_c + kx % sw;
      // Shifted taps: the kernel adds the tap's shift.
      plan->offsets[pos] = static_cast<int32_t>((ci * phases + phase) * plan->plane +
                                                (ky / sh) * plan->wq + kx / sw - tap_dx[t]);
      if (reordered)
        std::copy_n(values_.begin() + int64_t{e} * mr_, mr_,
                    plan->values.begin() + int64_t{pos} * mr_);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  return plans_.emplace(std::make_pair(h, w), std::move(plan)).first->second;
}

DirectConv2d::Layout DirectConv2d::layout(int64_t h, int64_t w) const {
  p_.check_input(1, p_.in_channels, h, w);
  if (dw_) return {dw_->name, false, w, 1, 1};  // x read in place, plane by plane
  const std::shared_ptr<const Plan> plan = plan_for(h, w);
  return {plan->kernel->name, plan->copy, plan->wq, plan->shifts, plan->blocks};
}

void DirectConv2d::run(const float* x, int64_t n, int64_t h, int64_t w, float* y, int threads,
                       const float* res) const {
  p_.check_input(n, p_.in_channels, h, w);
  if (n == 0) return;
  if (!x || !y) throw InvalidArgument("Conv2d: x and y must not be null");
  check_residual(p_, x, n, h, w, y, res, /*in_place=*/true);
  if (dw_) {
    const int64_t c = p_.out_channels, planes = n * c, hw = h * w;
    const int64_t ohw = p_.out_h(h) * p_.out_w(w);
    const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, planes)));
#pragma omp parallel for num_threads(parts) schedule(static)
    for (int64_t q = 0; q < planes; ++q)  // over-read only where 16 floats of x follow
      dw_->fn(h, w, static_cast<int>(p_.stride_h), x + q * hw, dw_weights_.data() + (q % c) * 9,
              bias_.empty() ? 0.0f : bias_[q % c], res ? res + q * ohw : nullptr, y + q * ohw,
              clamp_.lo, clamp_.hi, (planes - 1 - q) * hw >= 16 ? 1 : 0);
    return;
  }
  const std::shared_ptr<const Plan> plan = plan_for(h, w);
  const int64_t c = p_.in_channels, hout = p_.out_h(h), wout = p_.out_w(w);
  const int64_t phases = plan->phases_r * plan->phases_c;
  const int64_t image_in = plan->copy ? c * phases * plan->plane : c * h * w;
  const int64_t image_out = p_.out_channels * hout * wout;
  // Extended pixels that hold outputs; shifted taps need whole rows per tile.
  const int64_t ext = plan->shifts > 1 ? hout * plan->wq : (hout - 1) * plan->wq + wout;
  const int64_t ngroups = static_cast<int64_t>(indptr_.size()) - 1;
  const int64_t blocks = plan->blocks, shifts = plan->shifts, ips = shifts + 1;
  const float* values = plan->values.empty() ? values_.data() : plan->values.data();
  const float* xin_base = plan->copy ? nullptr : x;
  // Pixel tiles: about plan->tile pixels, a multiple of 16, as many per image as keeps the
  // threads evenly loaded; when x is used in place and its planes are 16-float multiples, a
  // short head tile makes every later tile start on a 64-byte boundary.
  int64_t ntiles = (ext + plan->tile - 1) / plan->tile;
  if (n < 2 * threads && ext >= 128 * threads) ntiles = (ntiles + threads - 1) / threads * threads;
  const int64_t unit = shifts > 1 ? std::max<int64_t>(plan->wq, 16) : 16;  // whole rows, 16k
  const int64_t tile_px = std::max(unit, ((ext + ntiles - 1) / ntiles + unit - 1) / unit * unit);
  int64_t head = 0;
  if (xin_base && (h * w) % 16 == 0 && reinterpret_cast<uintptr_t>(x) % 4 == 0)
    head = ((64 - reinterpret_cast<uintptr_t>(x) % 64) % 64) / 4;
  head = std::min(head, ext);
  ntiles = (head > 0) + (ext - head + tile_px - 1) / tile_px;
  const int64_t units = (ext + unit - 1) / unit;
  int64_t row_parts = 1;
  if (n * ntiles < 2 * threads)
    row_parts = std::min<int64_t>(ngroups, (2 * threads + n * ntiles - 1) / (n * ntiles));
  row_parts = std::max<int64_t>(row_parts, 1);
  const int64_t tasks = n * ntiles * row_parts;
  const int parts = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, tasks)));

  const float* bias = bias_.empty() ? nullptr : bias_.data();
  const int flags = (plan->copy ? kernels::kSpconvOverread : 0) |
                    (plan->zero_past_tile ? kernels::kSpconvZeroPastTile : 0);
  const int64_t sh = p_.stride_h, sw = p_.stride_w, ph = p_.pad_h, pw = p_.pad_w;
  const int64_t halo = (p_.kh - 1) / sh;  // extra plane rows below a tile's output rows

  // Phase-split padded copy of plane rows [i0, i1) of image `img`, every channel and phase:
  // plane (ci, py, px)[i][j] = padded[i*sh + py][j*sw + px] (the padrows kernel, rows whose
  // source is padding zero-filled here).
  const float* x_end = x + n * c * h * w;
  auto copy_rows = [&](float* dst_img, int64_t img, int64_t i0, int64_t i1) {
    const int64_t wq = plan->wq;
    for (int64_t ci = 0; ci < c; ++ci) {
      const float* src = x + (img * c + ci) * h * w;
      float* dst = dst_img + ci * phases * plan->plane;
      for (int64_t py = 0; py < plan->phases_r; ++py) {
        // Rows i with 0 <= i*sh + py - ph < h: [ia, ib) within [i0, i1).
        const int64_t first = (std::max<int64_t>(0, ph - py) + sh - 1) / sh;
        const int64_t ia = std::min(i1, std::max(i0, first));
        const int64_t ib = std::max(ia, std::min(i1, (h + ph - py + sh - 1) / sh));
        for (int64_t px = 0; px < plan->phases_c; ++px, dst += plan->plane) {
          std::fill(dst + i0 * wq, dst + ia * wq, 0.0f);
          std::fill(dst + ib * wq, dst + i1 * wq, 0.0f);
          if (ib == ia) continue;
          // Columns j with 0 <= j*sw + px - pw < w: [j0, j1); the rest are padding zeros.
          const int64_t j0 = std::min(wq, (std::max<int64_t>(0, pw - px) + sw - 1) / sw);
          const int64_t j1 = std::max(j0, std::min(wq, (w + pw - px + sw - 1) / sw));
          const float* s0 = j1 > j0 ? src + (ia * sh + py - ph) * w + (j0 * sw + px - pw) : src;
          padrows_->fn(ib - ia, wq, j0, j1, sw, s0, sh * w, dst + ia * wq, wq, x, x_end);
        }
      }
    }
  };

#pragma omp parallel num_threads(parts)
  {
    // Each thread copies into its own image-sized workspace only the plane rows its tasks
    // read, incrementally as its (consecutive) tiles advance. A shared copy made before the
    // compute loop was measured 1.3x instead of ~1.8x from 1 to 2 threads: half of every
    // thread's input then sat in the other core's cache.
    float* lbuf = nullptr;
    int64_t cur_img = -1, have0 = 0, have1 = 0;  // rows [have0, have1) of cur_img are copied
    if (plan->copy) {
      lbuf = workspace(static_cast<size_t>(image_in + kSlack));
      std::memset(lbuf + image_in, 0, kSlack * sizeof(float));  // over-read tail
    }
    float* part = blocks > 1 ? workspace(static_cast<size_t>(p_.out_channels * tile_px), 1) : nullptr;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t) {
      const int64_t img = t / (ntiles * row_parts), rest = t % (ntiles * row_parts);
      const int64_t tile = rest / row_parts, rp = rest % row_parts;
      const int64_t g0 = row_parts == 1 ? 0 : balanced_group(indptr_.data(), ngroups, static_cast<int>(row_parts), static_cast<int>(rp));
      const int64_t g1 = row_parts == 1 ? ngroups : balanced_group(indptr_.data(), ngroups, static_cast<int>(row_parts), static_cast<int>(rp + 1));
      if (g1 <= g0) continue;
      // Without a head tile the units are shared out evenly (tiles differ by one unit at most).
      const int64_t q0 = head == 0 ? unit * (tile * units / ntiles)
                                   : tile == 0 ? 0 : head + (tile - 1) * tile_px;
      const int64_t len = head == 0 ? std::min(ext, unit * ((tile + 1) * units / ntiles)) - q0
                                    : std::min(tile == 0 ? head : tile_px, ext - q0);
      const float* xin = x + img * image_in;
      if (plan->copy) {
        const int64_t need0 = q0 / plan->wq;
        const int64_t need1 = std::min(plan->hq, (q0 + len - 1) / plan->wq + halo + 2);
        if (img != cur_img || need0 < have0 || need0 > have1) {
          if (img != cur_img)  // zero the plane tails (read only by over-reads)
            for (int64_t pl = 0; pl < c * phases; ++pl)
              std::memset(lbuf + pl * plan->plane + plan->hq * plan->wq, 0,
                          static_cast<size_t>(plan->plane - plan->hq * plan->wq) * sizeof(float));
          copy_rows(lbuf, img, need0, need1);
          cur_img = img;
          have0 = need0;
          have1 = need1;
        } else if (need1 > have1) {
          copy_rows(lbuf, img, have1, need1);
          have1 = need1;
        }
        xin = lbuf;
      }
      const int64_t r0 = g0 * mr_;
      for (int64_t b = 0; b < blocks; ++b)
        plan->kernel->fn((g1 - g0) * mr_, q0, len,
                    plan->blockptr.data() + (b * ngroups + g0) * ips, ips,
                    static_cast<int>(shifts), plan->shift.data(), plan->offsets.data(), values, xin,
                    b > 0 ? part : nullptr, b + 1 < blocks ? part : nullptr, tile_px,
                    bias ? bias + r0 : nullptr, y + img * image_out + r0 * hout * wout,
                    res ? res + img * image_out + r0 * hout * wout : nullptr, hout * wout,
                    plan->wq, wout, clamp_.lo, clamp_.hi, flags);
    }
  }
}

}  // namespace sparse_rt::ops
