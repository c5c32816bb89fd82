// Dense convolution through oneDNN (built only when CMake found it: SPARSE_RT_HAVE_ONEDNN).
// oneDNN is built on GNU OpenMP, the same runtime as ours; its parallel regions take their
// width from omp_get_max_threads(), so run() sets the caller's ICV for the call and restores it
// (onednn::ThreadCountScope).
#include "ops/conv.h"
#include "ops/elementwise.h"
#include "sparse_rt/status.h"

#ifdef SPARSE_RT_HAVE_ONEDNN
#include <tuple>

#include "oneapi/dnnl/dnnl.hpp"
#include "ops/onednn_util.h"
#endif

namespace sparse_rt::ops {

#ifndef SPARSE_RT_HAVE_ONEDNN

bool have_onednn() { return false; }
bool prefer_onednn(const ConvParams&) { return false; }
struct DnnlConv2d::Impl {};
DnnlConv2d::DnnlConv2d(const float*, const ConvParams& p, std::vector<float>) : p_(p) {
  throw InvalidArgument("Conv2d: this build of sparse_rt has no oneDNN dense convolution");
}
DnnlConv2d::~DnnlConv2d() = default;
void DnnlConv2d::run(const float*, int64_t, int64_t, int64_t, float*, int, const float*) const {}
std::string DnnlConv2d::implementation(int64_t, int64_t, int64_t, int) const { return {}; }

#else

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using onednn::cpu_engine;

struct Prim {
  dnnl::convolution_forward conv;
  memory::desc scratch;
  memory::desc user_src, user_dst, src, dst;
  memory weights, bias;
  bool reorder_src = false, reorder_dst = false;
  std::string impl;  // oneDNN's implementation name
};

// The blocked activation layout of oneDNN's jit conv kernels: 16 channels when it runs
// AVX-512, 8 with AVX2. Given the other width they fall back to the reference kernel (3x3
// 64@56^2 under ONEDNN_MAX_CPU_ISA=AVX2 with nChw16c: 2511 ms).
tag blocked_tag() {
  static const tag t = [] {
    const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
    const auto avx512 = static_cast<unsigned>(dnnl::cpu_isa::avx512_core);
    return (isa & avx512) == avx512 ? tag::nChw16c : tag::nChw8c;
  }();
  return t;
}

}  // namespace

bool have_onednn() { return true; }
bool prefer_onednn(const ConvParams& p) {
  const int64_t per_group = p.in_channels / p.groups;
  const bool depthwise = per_group == 1 && p.out_channels == p.groups;  // jit depthwise kernels
  if (depthwise_kernel(p, base::active_isa())) return false;  // our dwconv kernel is faster
  return per_group >= 16 || depthwise;
}

struct DnnlConv2d::Impl {
  std::vector<float> w, bias;
  std::mutex mu;
  // By (batch, height, width, threads): oneDNN fixes a primitive's work split when it is
  // created, from omp_get_max_threads(), so run() creates it under the thread count it runs with.
  std::map<std::tuple<int64_t, int64_t, int64_t, int>, std::shared_ptr<const Prim>> prims;

  std::shared_ptr<const Prim> prim_for(const ConvParams& p, int64_t n, int64_t h, int64_t wd,
                                       int threads) {
    std::lock_guard<std::mutex> lock(mu);
    auto key = std::make_tuple(n, h, wd, threads);
    if (auto it = prims.find(key); it != prims.end()) return it->second;
    const dnnl::engine& eng = cpu_engine();
    const int64_t ho = p.out_h(h), wo = p.out_w(wd);
    auto prim = std::make_shared<Prim>();
    prim->user_src = memory::desc({n, p.in_channels, h, wd}, dt::f32, tag::nchw);
    prim->user_dst = memory::desc({n, p.out_channels, ho, wo}, dt::f32, tag::nchw);
    const memory::dims wdims =
        p.groups > 1 ? memory::dims{p.groups, p.out_channels / p.groups,
                                    p.in_channels / p.groups, p.kh, p.kw}
                     : memory::dims{p.out_channels, p.in_channels, p.kh, p.kw};
    const memory::desc user_w(wdims, dt::f32, p.groups > 1 ? tag::goihw : tag::oihw);
    const memory::desc bias_md({p.out_channels}, dt::f32, tag::x);
    // Activation layout, chosen by measurement (docs/architecture-conv.md): pointwise stride-1
    // convs over >= 14x14 pixels run best on plain NCHW (no reorders, a GEMM-like kernel);
    // everything else on the channel-blocked layout (blocked_tag) with one reorder each way.
    const bool plain = p.kh == 1 && p.kw == 1 && p.stride_h == 1 && p.stride_w == 1 &&
                       p.pad_h == 0 && p.pad_w == 0 && h * wd >= 196;
    // Few input channels (a network's first conv): oneDNN's jit kernels read them from plain
    // NCHW; asked for a blocked source they fall back to the reference kernel too (3->64 7x7 s2 at
    // 224^2: 2544 ms blocked, 1.07 ms plain; grouped convs with < 16 channels per group have
    // no jit kernel either way, see prefer_onednn).
    const tag act_tag = plain ? tag::nchw : blocked_tag();
    const tag src_tag = p.groups == 1 && p.in_channels < 16 ? tag::nchw : act_tag;
    const memory::desc any_src({n, p.in_channels, h, wd}, dt::f32, src_tag);
    const memory::desc any_dst({n, p.out_channels, ho, wo}, dt::f32, act_tag);
    const memory::desc any_w(wdims, dt::f32, tag::any);
    // ReLU / ReLU6 run after the primitive, not as oneDNN post-ops: those turn NaN into 0,
    // while our contract (and torch) propagate NaN.
    dnnl::primitive_attr attr = onednn::attr_with_user_scratchpad();
    const memory::dims strides{p.stride_h, p.stride_w}, pads{p.pad_h, p.pad_w};
    const memory::dims pads_r{(ho - 1) * p.stride_h + p.kh - h - p.pad_h,
                              (wo - 1) * p.stride_w + p.kw - wd - p.pad_w};
    const bool has_bias = !bias.empty();
#if DNNL_VERSION_MAJOR >= 3
    auto pd = has_bias
                  ? dnnl::convolution_forward::primitive_desc(
                        eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                        any_src, any_w, bias_md, any_dst, strides, pads, pads_r, attr)
                  : dnnl::convolution_forward::primitive_desc(
                        eng, dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                        any_src, any_w, any_dst, strides, pads, pads_r, attr);
#else
    auto desc = has_bias
                    ? dnnl::convolution_forward::desc(
                          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                          any_src, any_w, bias_md, any_dst, strides, pads, pads_r)
                    : dnnl::convolution_forward::desc(
                          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                          any_src, any_w, any_dst, strides, pads, pads_r);
    auto pd = dnnl::convolution_forward::primitive_desc(desc, attr, eng);
#endif
    prim->conv = dnnl::convolution_forward(pd);
    prim->impl = pd.impl_info_str();
    prim->scratch = pd.scratchpad_desc();
    prim->src = pd.src_desc();
    prim->dst = pd.dst_desc();
    prim->reorder_src = prim->src != prim->user_src;
    prim->reorder_dst = prim->dst != prim->user_dst;
    dnnl::stream s(eng);
    memory user_wm(user_w, eng, w.data());
    prim->weights = memory(pd.weights_desc(), eng);
    dnnl::reorder(user_wm, prim->weights).execute(s, user_wm, prim->weights);
    if (has_bias) {
      prim->bias = memory(bias_md, eng);
      std::copy(bias.begin(), bias.end(), static_cast<float*>(prim->bias.get_data_handle()));
    }
    s.wait();
    return prims.emplace(key, std::move(prim)).first->second;
  }
};

DnnlConv2d::DnnlConv2d(const float* w, const ConvParams& p, std::vector<float> bias)
    : p_(p), impl_(new Impl) {
  p_.validate();
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != p_.out_channels)
    throw InvalidArgument("Conv2d: bias has " + std::to_string(bias.size()) + " values, expected " +
                          std::to_string(p_.out_channels));
  impl_->w.assign(w, w + p_.out_channels * p_.cols());
  impl_->bias = std::move(bias);
}

DnnlConv2d::~DnnlConv2d() = default;

std::string DnnlConv2d::implementation(int64_t n, int64_t h, int64_t wd, int threads) const {
  p_.check_input(n, p_.in_channels, h, wd);
  const onednn::ThreadCountScope scope(threads);
  return impl_->prim_for(p_, n, h, wd, threads)->impl;
}

// The residual is added by one fused pass after the conv (y = act(y + res), ops::add), not
// by a oneDNN binary post-op: correctness first, and the blocked-layout convs would need the
// residual reordered to nChw16c anyway. So a fused add saves a step, not memory traffic.
void DnnlConv2d::run(const float* x, int64_t n, int64_t h, int64_t wd, float* y, int threads,
                     const float* res) const {
  p_.check_input(n, p_.in_channels, h, wd);
  if (n == 0) return;
  if (!x || !y) throw InvalidArgument("Conv2d: x and y must not be null");
  check_residual(p_, x, n, h, wd, y, res, /*in_place=*/false);
  const onednn::ThreadCountScope scope(threads);
  try {
    std::shared_ptr<const Prim> prim = impl_->prim_for(p_, n, h, wd, threads);
    const dnnl::engine& eng = cpu_engine();
    dnnl::stream s(eng);
    memory usrc(prim->user_src, eng, const_cast<float*>(x));
    memory udst(prim->user_dst, eng, y);
    memory src = usrc, dst = udst;
    if (prim->reorder_src) {
      src = memory(prim->src, eng);
      dnnl::reorder(usrc, src).execute(s, usrc, src);
    }
    if (prim->reorder_dst) dst = memory(prim->dst, eng);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, prim->weights}, {DNNL_ARG_DST, dst}};
    if (!impl_->bias.empty()) args.emplace(DNNL_ARG_BIAS, prim->bias);
    args.emplace(DNNL_ARG_SCRATCHPAD, onednn::scratchpad(prim->scratch));
    prim->conv.execute(s, args);
    if (prim->reorder_dst) dnnl::reorder(dst, udst).execute(s, dst, udst);
    s.wait();
    // Residual and activation after the primitive: oneDNN's post-ops would drop NaN.
    const int64_t total = n * p_.out_channels * p_.out_h(h) * p_.out_w(wd);
    if (res)
      add(y, res, y, total, to_act(p_.act), threads);
    else
      activation(to_act(p_.act), y, y, total, threads);
  } catch (const dnnl::error& e) {
    throw Error(std::string("Conv2d (oneDNN): ") + e.what());
  }
}

#endif  // SPARSE_RT_HAVE_ONEDNN

}  // namespace sparse_rt::ops
