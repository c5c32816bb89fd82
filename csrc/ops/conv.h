// 2-D convolution ops (NCHW activations). Weights are checked and packed once at construction;
// per input shape a small plan (tap offsets, or a oneDNN primitive) is made on first use and
// cached, so run() may be called concurrently from many threads (the op is logically immutable).
//
//   DirectConv2d: the spconv kernels (kernels/spconv) over a phase-split padded copy of the
//     input: CSR (1 output channel per row group), BSR (4 or 8), dense output-channel blocks,
//     and the direct depthwise path (dense weights, 1 row per group); depthwise 3x3 padding-1
//     convs of stride 1 or 2 run the dwconv kernels (kernels/dwconv) where the ISA path has one.
//   DnnlConv2d:   dense convolution through oneDNN (only when built with it), see
//     docs/architecture-conv.md for why.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dispatch/registry.h"
#include "ops/linear.h"
#include "sparse_rt/ops.h"
#include "sparse_rt/sparse_matrix.h"

namespace sparse_rt::ops {

struct ConvParams {
  int64_t out_channels = 0, in_channels = 0;  // in_channels: all groups together
  int64_t kh = 1, kw = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t groups = 1;
  Activation act = Activation::kNone;

  // Throws InvalidArgument naming the bad field.
  void validate() const;
  int64_t cols() const { return in_channels / groups * kh * kw; }  // 2-D weight view width
  int64_t out_h(int64_t h) const { return (h + 2 * pad_h - kh) / stride_h + 1; }
  int64_t out_w(int64_t w) const { return (w + 2 * pad_w - kw) / stride_w + 1; }
  // Throws InvalidArgument unless x is (n, in_channels, h, w) with a non-empty output.
  void check_input(int64_t n, int64_t c, int64_t h, int64_t w) const;
};

class DirectConv2d {
 public:
  // Weight: the (out_channels x cols()) 2-D view in CSR (1 row per group) or BSR.
  DirectConv2d(const CsrMatrix& w, const ConvParams& p, std::vector<float> bias);
  DirectConv2d(const BsrMatrix& w, const ConvParams& p, std::vector<float> bias);
  // Dense weight (out_channels x cols() row-major); zeros are dropped. Depthwise convs use one
  // output channel per group, others blocks of 8 (or 4, or 1) output channels.
  static std::unique_ptr<DirectConv2d> dense(const float* w, const ConvParams& p,
                                             std::vector<float> bias);

  // y (n, out_channels, out_h, out_w) from x (n, in_channels, h, w), both contiguous.
  // res (optional): a residual shaped like y, added in the kernels' epilogue before the
  // activation: y = act(conv(x) + bias + res). It may be y itself (in place: each element
  // is read just before y is written there) but must not otherwise overlap y
  // (InvalidArgument); it may be or overlap x (both are only read).
  void run(const float* x, int64_t n, int64_t h, int64_t w, float* y, int threads,
           const float* res = nullptr) const;

  const ConvParams& params() const { return p_; }
  // The default kernel; an input shape with shifted taps may run another (layout()).
  const char* kernel_name() const { return dw_ ? dw_->name : kernel_->name; }
  const char* kernel_name(int64_t h, int64_t w) const;  // cheap: makes no plan
  int rows_per_group() const { return mr_; }

  // How run() lays out an h x w input (made and cached on first use, as by run()).
  struct Layout {
    const char* kernel;      // the spconv (or dwconv) kernel that runs it
    bool copy;               // false: x is read in place
    int64_t row_pitch;       // floats per (phase) row of the padded copy
    int shifts;              // > 1: shifted taps (aligned loads; kernels/spconv/spconv.h)
    int64_t channel_blocks;  // input-channel blocks (partial-sum passes)
  };
  Layout layout(int64_t h, int64_t w) const;
  int64_t stored() const { return static_cast<int64_t>(cols_.size()); }  // entries

 private:
  struct Plan {
    int64_t hq, wq, phases_r, phases_c, plane;  // phase-split padded geometry
    bool copy;                                  // false: x is used in place
    // Shifted taps (kernels/spconv/spconv.h): > 1 when rows are padded to 16-float multiples
    // (or several rows fill one vector) so that every load is aligned and taps differ only by
    // a shift below 16; the entries of each row group and block are then reordered by shift
    // (values too, in `values`). `shift` lists the segments' shifts, largest first.
    int shifts;
    std::vector<int32_t> shift;
    // Several rows per vector (wq divides the vector): one register tile per image (AVX-512)
    // or tiles of whole rows (AVX2), and the kernel told that the lanes it takes from past a
    // tile stand for zeros (kSpconvZeroPastTile).
    bool zero_past_tile;
    const dispatch::SpconvKernel* kernel;       // the op's, or one with whole-row tiles
    std::vector<int32_t> offsets;               // per stored entry, in the plan's order
    std::vector<float> values;                  // empty: the op's order (values_) is the plan's
    int64_t tile;                               // extended pixels per task
    int64_t blocks;                             // input-channel blocks (partial-sum passes)
    std::vector<int32_t> blockptr;              // [block][group]: shifts + 1 positions each
    // The shifts are in-plane offsets mod this: the kernel's vector, 16 floats or AVX2's 8.
    int lanes() const { return kernel->isa == base::Isa::kAvx512 ? 16 : 8; }
  };
  DirectConv2d(const ConvParams& p, std::vector<float> bias, int mr);
  void finish();
  // The plan's geometry, kernel and shifts (no offsets, no checks): cheap.
  void shape_plan(int64_t h, int64_t w, Plan& plan) const;
  std::shared_ptr<const Plan> plan_for(int64_t h, int64_t w) const;
  // The shift of tap (ky, kx) over rows of wq floats: its in-plane offset mod `lanes`.
  int32_t tap_shift(int64_t wq, int64_t ky, int64_t kx, int lanes) const;
  // Whether, over planes of hq rows of wq floats with shifts mod `lanes`, every tap a valid
  // output lane would take from past its tile reads a zero of the padded copy (the condition
  // of kSpconvZeroPastTile): past a one-tile image (lanes 16, AVX-512), or past its own row
  // (lanes 8, AVX2, whose tiles may end at any row).
  bool past_tile_reads_zero(int64_t wq, int64_t hq, int64_t h, int64_t w, int lanes) const;

  ConvParams p_;
  std::vector<float> bias_;
  Clamp clamp_;
  int mr_;
  std::vector<int32_t> indptr_;  // per row group
  std::vector<int32_t> cols_;    // 2-D view column of each entry (ci, ky, kx)
  std::vector<float> values_;    // mr_ per entry
  const dispatch::SpconvKernel* kernel_ = nullptr;
  const dispatch::PadrowsKernel* padrows_ = nullptr;  // builds the padded, phase-split copy
  // Depthwise 3x3 padding 1, stride 1 or 2 (multiplier 1), on a path with a dwconv kernel: that
  // kernel, and the 9 weights of each channel.
  const dispatch::DwconvKernel* dw_ = nullptr;
  std::vector<float> dw_weights_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<int64_t, int64_t>, std::shared_ptr<const Plan>> plans_;
};

// Throws InvalidArgument unless res (null: no residual) is disjoint from y, or (in_place)
// is y itself.
void check_residual(const ConvParams& p, const float* x, int64_t n, int64_t h, int64_t w,
                    const float* y, const float* res, bool in_place);

// True when this library was built with oneDNN.
bool have_onednn();

// Whether a dense conv should run on oneDNN rather than DirectConv2d::dense: oneDNN is built in
// and the conv is depthwise (multiplier 1; oneDNN ~2x faster than the spconv kernels) without a
// dwconv kernel for it (depthwise_kernel), or has at least 16 input channels per group. Narrow grouped convs (< 16 channels per group) have no oneDNN jit kernel:
// its reference implementation runs 700-1600x slower than the direct kernels (32->32 3x3 in 4
// groups at 56^2: 160 ms vs 0.10 ms). Stems (groups 1, 3 input channels) run on oneDNN's jit
// kernels since DnnlConv2d gives them a plain NCHW source, but are not preferred either:
// against the direct kernels, 0.83-1.42x the time at batch 1 and 0.80-3.07x at batch 16
// (3->64 7x7 s2 at 224^2: 1.06 vs 1.18 ms, 40.4 vs 24.5 ms; 3->32 3x3 s2: 0.13 vs 0.16 ms,
// 15.1 vs 4.9 ms).
bool prefer_onednn(const ConvParams& p);

// The dwconv kernel DirectConv2d runs for `p` on ISA path `isa`, or null (see DirectConv2d).
const dispatch::DwconvKernel* depthwise_kernel(const ConvParams& p, base::Isa isa);

class DnnlConv2d {
 public:
  // Dense weight (out_channels, in_channels/groups, kh, kw) row-major.
  DnnlConv2d(const float* w, const ConvParams& p, std::vector<float> bias);
  ~DnnlConv2d();
  // As DirectConv2d::run, residual included, except that res must not overlap y at all:
  // with a residual the conv runs without its activation and writes y, then one fused pass
  // computes y = act(y + res).
  void run(const float* x, int64_t n, int64_t h, int64_t w, float* y, int threads,
           const float* res = nullptr) const;
  const ConvParams& params() const { return p_; }
  const char* kernel_name() const { return "f32_conv__onednn"; }
  // oneDNN's name for the implementation it picked for this input shape and thread count
  // (e.g. "brg_conv_fwd:avx512_core", or "ref:any" for its slow reference kernel).
  std::string implementation(int64_t n, int64_t h, int64_t w, int threads) const;

 private:
  struct Impl;
  ConvParams p_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sparse_rt::ops
