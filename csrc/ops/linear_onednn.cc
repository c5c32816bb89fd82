// Dense fully-connected layers through oneDNN's inner product (built only when CMake found
// oneDNN: SPARSE_RT_HAVE_ONEDNN). oneDNN picks the weights layout for each batch size; W is
// reordered into it once, when a batch size is first seen, and batch sizes that pick the same
// layout share one copy (in practice batch 1 keeps the plain layout, all others share one
// blocked copy). BLAS sgemm, in contrast, packs W on every call, which is what made small
// batches slow (docs/kernels-fc.md).
// Threads: as in conv_onednn.cc, oneDNN's parallel regions take omp_get_max_threads(), so the
// call sets the caller's thread count and restores it.
#include <omp.h>

#include "ops/elementwise.h"
#include "ops/linear.h"
#include "sparse_rt/status.h"

#ifdef SPARSE_RT_HAVE_ONEDNN
#include <cstring>
#include <map>
#include <utility>
#include <mutex>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"
#include "ops/onednn_util.h"
#endif

namespace sparse_rt::ops {

#ifndef SPARSE_RT_HAVE_ONEDNN

struct DenseLinear::Dnnl {};
void DenseLinear::DnnlDeleter::operator()(Dnnl* d) const { delete d; }
std::unique_ptr<DenseLinear::Dnnl, DenseLinear::DnnlDeleter> DenseLinear::make_dnnl() const {
  return nullptr;
}
bool DenseLinear::dnnl_linear(const float*, int64_t, float*, int) const { return false; }
const char* DenseLinear::kernel_name(int64_t) const { return "f32_gemm__openblas"; }

#else

namespace {

using dnnl::memory;
using tag = memory::format_tag;
using dt = memory::data_type;
using onednn::cpu_engine;

}  // namespace

struct DenseLinear::Dnnl {
  struct Prim {
    dnnl::inner_product_forward ip;  // empty when oneDNN has only a reference kernel for n
    memory::desc src, dst, scratch;
    memory weights;
    bool usable = false;
  };
  std::mutex mu;
  // By (batch size, threads): oneDNN fixes a primitive's work split when it is created, from
  // omp_get_max_threads(), so the caller creates it with the thread count it will run with.
  std::map<std::pair<int64_t, int>, std::shared_ptr<const Prim>> prims;
  std::vector<memory> layouts;                            // W in each layout asked for so far
  memory::desc bias_md;

  // W in layout `md`: the caller's array for the plain layout, else a reordered copy made once.
  memory weights_in(const DenseLinear& op, const memory::desc& md) {
    const dnnl::engine& eng = cpu_engine();
    memory plain(memory::desc({op.rows_, op.cols_}, dt::f32, tag::oi), eng,
                 const_cast<float*>(op.w_.data()));
    if (md == plain.get_desc()) return plain;
    for (const memory& m : layouts)
      if (m.get_desc() == md) return m;
    memory m(md, eng);
    dnnl::stream s(eng);
    dnnl::reorder(plain, m).execute(s, plain, m);
    s.wait();
    layouts.push_back(m);
    return m;
  }

  std::shared_ptr<const Prim> prim_for(const DenseLinear& op, int64_t n, int threads) {
    std::lock_guard<std::mutex> lock(mu);
    const auto key = std::make_pair(n, threads);
    if (auto it = prims.find(key); it != prims.end()) return it->second;
    auto prim = std::make_shared<Prim>();
    prim->src = memory::desc({n, op.cols_}, dt::f32, tag::nc);
    const memory::desc any_w({op.rows_, op.cols_}, dt::f32, tag::any);
    prim->dst = memory::desc({n, op.rows_}, dt::f32, tag::nc);
    // The activation runs after the primitive (oneDNN's relu/clip post-ops turn NaN into 0;
    // our contract propagates NaN).
    dnnl::primitive_attr attr = onednn::attr_with_user_scratchpad();
    const bool has_bias = !op.bias_.empty();
    try {
#if DNNL_VERSION_MAJOR >= 3
      auto pd = has_bias ? dnnl::inner_product_forward::primitive_desc(
                               cpu_engine(), dnnl::prop_kind::forward_inference, prim->src,
                               any_w, bias_md, prim->dst, attr)
                         : dnnl::inner_product_forward::primitive_desc(
                               cpu_engine(), dnnl::prop_kind::forward_inference, prim->src,
                               any_w, prim->dst, attr);
#else
      auto desc = has_bias ? dnnl::inner_product_forward::desc(
                                 dnnl::prop_kind::forward_inference, prim->src, any_w,
                                 bias_md, prim->dst)
                           : dnnl::inner_product_forward::desc(
                                 dnnl::prop_kind::forward_inference, prim->src, any_w,
                                 prim->dst);
      auto pd = dnnl::inner_product_forward::primitive_desc(desc, attr, cpu_engine());
#endif
      // A reference kernel would be far slower than BLAS: keep BLAS for this batch size.
      if (std::strstr(pd.impl_info_str(), "ref") == nullptr) {
        prim->ip = dnnl::inner_product_forward(pd);
        prim->scratch = pd.scratchpad_desc();
        prim->weights = weights_in(op, pd.weights_desc());
        prim->usable = true;
      }
    } catch (const dnnl::error&) {
      // No implementation for this configuration: BLAS serves it.
    }
    return prims.emplace(key, std::move(prim)).first->second;
  }
};

void DenseLinear::DnnlDeleter::operator()(Dnnl* d) const { delete d; }

std::unique_ptr<DenseLinear::Dnnl, DenseLinear::DnnlDeleter> DenseLinear::make_dnnl() const {
  if (rows_ == 0 || cols_ == 0) return nullptr;
  std::unique_ptr<Dnnl, DnnlDeleter> d(new Dnnl);
  d->bias_md = memory::desc({rows_}, dt::f32, tag::x);
  return d;
}

bool DenseLinear::dnnl_linear(const float* x, int64_t n, float* y, int threads) const {
  if (!dnnl_) return false;
  const onednn::ThreadCountScope scope(threads);
  try {
    const std::shared_ptr<const Dnnl::Prim> prim = dnnl_->prim_for(*this, n, threads);
    if (!prim->usable) return false;
    const dnnl::engine& eng = cpu_engine();
    dnnl::stream s(eng);
    memory src(prim->src, eng, const_cast<float*>(x));
    memory dst(prim->dst, eng, y);
    std::unordered_map<int, memory> args{
        {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, prim->weights}, {DNNL_ARG_DST, dst}};
    if (!bias_.empty())
      args.emplace(DNNL_ARG_BIAS, memory(dnnl_->bias_md, eng, const_cast<float*>(bias_.data())));
    args.emplace(DNNL_ARG_SCRATCHPAD, onednn::scratchpad(prim->scratch));
    prim->ip.execute(s, args);
    s.wait();
    activation(to_act(act_), y, y, n * rows_, threads);  // keeps NaN, unlike oneDNN's post-ops
  } catch (const dnnl::error& e) {
    throw Error(std::string("Linear (oneDNN): ") + e.what());
  }
  return true;
}

const char* DenseLinear::kernel_name(int64_t n) const {
  if (!dnnl_) return "f32_gemm__openblas";
  // Whether oneDNN has an optimised kernel does not depend on the thread count.
  return dnnl_->prim_for(*this, n, omp_get_max_threads())->usable ? "f32_inner_product__onednn"
                                                                  : "f32_gemm__openblas";
}

#endif  // SPARSE_RT_HAVE_ONEDNN

}  // namespace sparse_rt::ops
