#include "graph/layers.h"

#include <cmath>
#include <cstring>

#include "ops/conv.h"
#include "ops/conv2d_fallback.h"
#include "dispatch/registry.h"
#include "ops/elementwise.h"
#include "ops/fc.h"
#include "ops/linear.h"
#include "ops/pool.h"
#include "sparse_rt/status.h"

namespace sparse_rt::graph {
namespace {

// A conv/linear weight in a form the ops take: dense row-major or CSR. BSR is expanded to CSR
// (its stored values, in order: bounded by the bytes in the file).
struct PackedWeight {
  bool dense = false;
  bool is_bsr = false;        // kept as BSR (ops that run blocks natively)
  std::vector<float> values;  // dense: rows * cols
  CsrMatrix csr;
  BsrMatrix bsr;
};

// Load-time memory the BSR -> CSR expansion may take beyond the stored values: its row
// pointer has rows + 1 entries, and `rows` is not backed by bytes in the file (a BSR with
// huge blocks and no stored block is tiny on disk). Bounded per docs/format.md §2.5.
constexpr int64_t kMaxUnbackedRows = int64_t{1} << 24;

PackedWeight pack_weight(const Weight& w, const std::string& node, bool keep_bsr = false) {
  PackedWeight p;
  if (w.format == WeightFormat::kBsr && keep_bsr) {
    p.is_bsr = true;
    BsrMatrix& b = p.bsr;
    b.rows = w.rows;
    b.cols = w.cols;
    b.block_rows = static_cast<int32_t>(w.br);
    b.block_cols = static_cast<int32_t>(w.bc);
    b.data.assign(w.data, w.data + w.nnz * w.br * w.bc);
    b.indices.assign(w.indices, w.indices + w.nnz);
    b.indptr.assign(w.indptr, w.indptr + w.rows / w.br + 1);
    return p;
  }
  if (w.format == WeightFormat::kDense) {
    p.dense = true;
    p.values.assign(w.data, w.data + w.rows * w.cols);
    return p;
  }
  CsrMatrix& c = p.csr;
  c.rows = w.rows;
  c.cols = w.cols;
  if (w.format == WeightFormat::kCsr) {
    c.data.assign(w.data, w.data + w.nnz);
    c.indices.assign(w.indices, w.indices + w.nnz);
    c.indptr.assign(w.indptr, w.indptr + w.rows + 1);
    return p;
  }
  const int64_t r = w.br, cc = w.bc, brows = w.rows / r;
  const int64_t total = w.nnz * r * cc;
  if (w.rows > kMaxUnbackedRows && w.rows > 8 * (total + brows))
    throw InvalidArgument("node '" + node + "': expanding its BSR weight (" +
                          std::to_string(w.rows) + " rows, " + std::to_string(w.nnz) +
                          " stored blocks) to CSR would allocate " +
                          std::to_string((w.rows + 1) * 4) +
                          " bytes of row pointers; the BSR fallback refuses weights with more"
                          " than " + std::to_string(kMaxUnbackedRows) +
                          " rows and fewer than rows/8 stored values");
  if (total > INT32_MAX)
    throw InvalidArgument("a BSR weight with " + std::to_string(total) +
                          " stored values exceeds the int32 CSR index range");
  c.data.reserve(static_cast<size_t>(total));
  c.indices.reserve(static_cast<size_t>(total));
  c.indptr.assign(static_cast<size_t>(w.rows + 1), 0);
  for (int64_t b = 0; b < brows; ++b)
    for (int64_t i = 0; i < r; ++i) {
      for (int32_t p2 = w.indptr[b]; p2 < w.indptr[b + 1]; ++p2)
        for (int64_t j = 0; j < cc; ++j) {
          c.data.push_back(w.data[(p2 * r + i) * cc + j]);
          c.indices.push_back(static_cast<int32_t>(w.indices[p2] * cc + j));
        }
      c.indptr[b * r + i + 1] = static_cast<int32_t>(c.data.size());
    }
  return p;
}

int64_t weight_bytes_of(const PackedWeight& p) {
  if (p.dense) return static_cast<int64_t>(p.values.size() * 4);
  if (p.is_bsr)
    return static_cast<int64_t>(p.bsr.data.size() * 4 + (p.bsr.indices.size() + p.bsr.indptr.size()) * 4);
  return static_cast<int64_t>(p.csr.data.size() * 8 + p.csr.indptr.size() * 4);
}

// Folds y = x * scale[o] + shift[o] into rows o of the weight and into the bias.
void fold_affine(PackedWeight& w, std::vector<float>& bias, int64_t rows, const double* scale,
                 const double* shift) {
  if (w.is_bsr) {
    const int64_t r = w.bsr.block_rows, c = w.bsr.block_cols;
    for (int64_t b = 0; b < rows / r; ++b)
      for (int32_t p = w.bsr.indptr[b]; p < w.bsr.indptr[b + 1]; ++p)
        for (int64_t i = 0; i < r; ++i)
          for (int64_t j = 0; j < c; ++j) {
            float& v = w.bsr.data[(int64_t{p} * r + i) * c + j];
            v = static_cast<float>(v * scale[b * r + i]);
          }
  } else if (w.dense) {
    const int64_t cols = static_cast<int64_t>(w.values.size()) / std::max<int64_t>(rows, 1);
    for (int64_t o = 0; o < rows; ++o)
      for (int64_t k = 0; k < cols; ++k)
        w.values[o * cols + k] = static_cast<float>(w.values[o * cols + k] * scale[o]);
  } else {
    for (int64_t o = 0; o < rows; ++o)
      for (int32_t p = w.csr.indptr[o]; p < w.csr.indptr[o + 1]; ++p)
        w.csr.data[p] = static_cast<float>(w.csr.data[p] * scale[o]);
  }
  std::vector<float> b(rows);
  for (int64_t o = 0; o < rows; ++o)
    b[o] = static_cast<float>((bias.empty() ? 0.0 : double(bias[o])) * scale[o] + shift[o]);
  bias = std::move(b);
}

// scale/shift of a batch_norm in double precision.
void bn_affine(const Node& bn, std::vector<double>* scale, std::vector<double>* shift) {
  const int64_t c = bn.attrs.channels;
  scale->resize(c);
  shift->resize(c);
  for (int64_t i = 0; i < c; ++i) {
    if (bn.attrs.bn_stats) {
      (*scale)[i] = double(bn.gamma[i]) / std::sqrt(double(bn.var[i]) + bn.attrs.eps);
      (*shift)[i] = double(bn.beta[i]) - double(bn.mean[i]) * (*scale)[i];
    } else {
      (*scale)[i] = bn.scale[i];
      (*shift)[i] = bn.shift[i];
    }
  }
}

Activation clamp_of(Act act) {
  if (act == Act::kRelu) return Activation::kRelu;
  if (act == Act::kRelu6) return Activation::kRelu6;
  return Activation::kNone;
}
bool needs_epilogue(Act act) { return act == Act::kHardswish || act == Act::kSigmoid; }

std::string format_string(const Weight& w) {
  if (w.format == WeightFormat::kBsr)
    return "bsr " + std::to_string(w.br) + "x" + std::to_string(w.bc);
  return format_name(w.format);
}

// Threads worth using for `flops` of work: a parallel region costs microseconds (far more on a
// loaded machine), so small layers run on the calling thread.
int threads_for(int64_t flops, int threads) {
  constexpr int64_t kPerThread = int64_t{1} << 18;
  if (flops < 2 * kPerThread) return 1;
  return static_cast<int>(std::min<int64_t>(threads, flops / kPerThread));
}

// ---- layers ---------------------------------------------------------------------------------

class ConvLayer : public Layer {
 public:
  ConvLayer(std::unique_ptr<ops::Conv2dFallback> op, int64_t flops)
      : op_(std::move(op)), flops_(flops) {}
  int64_t scratch_floats() const override { return op_->scratch_floats(); }
  void run(const float* const* ins, float* y, int64_t batch, float* scratch,
           int threads) const override {
    op_->run(ins[0], batch, y, scratch, threads_for(flops_ * batch, threads));
  }

 private:
  std::unique_ptr<ops::Conv2dFallback> op_;
  int64_t flops_;  // per sample, incl. im2col traffic
};

// The fast conv ops (ops/conv.h): sparse_rt's direct kernels for CSR, BSR and depthwise
// weights, oneDNN for other dense weights. A fused residual add is ins[1], added before the
// activation by the op. Activations beyond the kernels' clamp (hardswish, sigmoid) run as an
// in-place epilogue.
class FastConvLayer : public Layer {
 public:
  FastConvLayer(std::unique_ptr<ops::DirectConv2d> direct, std::unique_ptr<ops::DnnlConv2d> dnnl,
                int64_t h, int64_t w, Act act, bool residual, int64_t out_numel, int64_t flops)
      : direct_(std::move(direct)), dnnl_(std::move(dnnl)), h_(h), w_(w), act_(act),
        residual_(residual), out_numel_(out_numel), flops_(flops) {}
  const char* kernel() const {
    return direct_ ? direct_->kernel_name(h_, w_) : dnnl_->kernel_name();
  }
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    const int t = threads_for(flops_ * batch, threads);
    const float* res = residual_ ? ins[1] : nullptr;
    if (direct_)
      direct_->run(ins[0], batch, h_, w_, y, t, res);
    else
      dnnl_->run(ins[0], batch, h_, w_, y, t, res);
    if (needs_epilogue(act_)) ops::activation(act_, y, y, out_numel_ * batch, t);
  }
  // The direct kernels read each residual element just before writing y there (spconv.h);
  // the oneDNN path adds the residual after its conv has written y, so it cannot.
  int in_place_input() const override { return residual_ && direct_ ? 1 : -1; }

 private:
  std::unique_ptr<ops::DirectConv2d> direct_;
  std::unique_ptr<ops::DnnlConv2d> dnnl_;
  int64_t h_, w_;
  Act act_;
  bool residual_;
  int64_t out_numel_, flops_;
};

class LinearLayer : public Layer {
 public:
  LinearLayer(PackedWeight w, int64_t rows, int64_t cols, std::vector<float> bias, Act act)
      : rows_(rows), act_(act) {
    if (w.dense) {
      flops_ = 2 * rows * cols + rows;
      dense_ = std::make_unique<ops::DenseLinear>(std::move(w.values), rows, cols,
                                                  std::move(bias), clamp_of(act));
    } else if (w.is_bsr) {
      flops_ = 2 * static_cast<int64_t>(w.bsr.data.size()) + rows;
      bsr_ = std::make_unique<ops::BsrLinear>(w.bsr, std::move(bias), clamp_of(act));
    } else {
      flops_ = 2 * w.csr.nnz() + rows;
      csr_ = std::make_unique<ops::CsrLinear>(w.csr, std::move(bias), clamp_of(act));
    }
  }
  // The kernel a batch of `n` runs (the batch-1 and batched kernels differ).
  const char* kernel(int64_t n) const {
    return dense_ ? dense_->kernel_name(n) : bsr_ ? bsr_->kernel_name(n) : csr_->kernel_name(n);
  }
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    threads = threads_for(flops_ * batch, threads);
    if (dense_) dense_->linear(ins[0], batch, y, threads);
    else if (bsr_) bsr_->linear(ins[0], batch, y, threads);
    else csr_->linear(ins[0], batch, y, threads);
    if (needs_epilogue(act_)) ops::activation(act_, y, y, batch * rows_, threads);
  }

 private:
  int64_t rows_, flops_ = 0;
  Act act_;
  std::unique_ptr<ops::DenseLinear> dense_;
  std::unique_ptr<ops::CsrLinear> csr_;
  std::unique_ptr<ops::BsrLinear> bsr_;
};

class AffineLayer : public Layer {  // unfolded batch_norm
 public:
  AffineLayer(std::vector<float> scale, std::vector<float> shift, int64_t inner)
      : scale_(std::move(scale)), shift_(std::move(shift)), inner_(inner) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    ops::channel_affine(ins[0], y, batch, static_cast<int64_t>(scale_.size()), inner_,
                        scale_.data(), shift_.data(), threads);
  }

 private:
  std::vector<float> scale_, shift_;
  int64_t inner_;
};

class ActLayer : public Layer {
 public:
  ActLayer(Act act, int64_t numel) : act_(act), numel_(numel) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    ops::activation(act_, ins[0], y, batch * numel_, threads);
  }

 private:
  Act act_;
  int64_t numel_;
};

class AddLayer : public Layer {
 public:
  AddLayer(Act act, int64_t numel) : act_(act), numel_(numel) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    ops::add(ins[0], ins[1], y, batch * numel_, act_, threads);
  }

 private:
  Act act_;
  int64_t numel_;
};

class ConcatLayer : public Layer {
 public:
  explicit ConcatLayer(std::vector<int64_t> sizes) : sizes_(std::move(sizes)) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    ops::concat(ins, sizes_.data(), static_cast<int>(sizes_.size()), y, batch, threads);
  }

 private:
  std::vector<int64_t> sizes_;
};

class PoolLayer : public Layer {
 public:
  enum Kind { kMax, kAvg, kGlobal };
  PoolLayer(Kind kind, ops::Pool2dParams p, int64_t c, int64_t h, int64_t w, int64_t ho, int64_t wo)
      : kind_(kind), p_(p), c_(c), h_(h), w_(w), ho_(ho), wo_(wo) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    const int64_t planes = batch * c_;
    if (kind_ == kMax) ops::max_pool2d(ins[0], y, planes, h_, w_, ho_, wo_, p_, threads);
    else if (kind_ == kAvg) ops::avg_pool2d(ins[0], y, planes, h_, w_, ho_, wo_, p_, threads);
    else ops::global_avg_pool(ins[0], y, planes, h_ * w_, threads);
  }

 private:
  Kind kind_;
  ops::Pool2dParams p_;
  int64_t c_, h_, w_, ho_, wo_;
};

class SoftmaxLayer : public Layer {
 public:
  SoftmaxLayer(int64_t outer, int64_t len, int64_t inner) : outer_(outer), len_(len), inner_(inner) {}
  void run(const float* const* ins, float* y, int64_t batch, float*, int threads) const override {
    ops::softmax(ins[0], y, batch * outer_, len_, inner_, threads);
  }

 private:
  int64_t outer_, len_, inner_;
};

int64_t prod(const std::vector<int64_t>& v, size_t from = 0, size_t to = SIZE_MAX) {
  int64_t p = 1;
  for (size_t i = from; i < v.size() && i < to; ++i) p *= v[i];
  return p;
}

}  // namespace

bool fast_conv(const Attrs& a) { return a.dh == 1 && a.dw == 1 && a.pt == a.pb && a.pl == a.pr; }

std::unique_ptr<Layer> make_layer(const Graph& g, const FusedNode& f, LayerReport* rep,
                                  int64_t* weight_bytes) {
  const Node& n = *f.node;
  const std::vector<int64_t>& x = g.values[n.inputs[0]].dims;
  const int64_t out_numel = g.values[n.output].numel();
  rep->kernel = "";
  switch (n.op) {
    case OpType::kConv2d: {
      const Attrs& a = n.attrs;
      // The fast ops take symmetric padding and no dilation (every ResNet/MobileNet conv);
      // anything else runs on the general fallback.
      const bool fast = fast_conv(a);
      if (f.residual >= 0 && !fast) throw Error("internal: residual fused into a fallback conv");
      PackedWeight w = pack_weight(n.weight, n.name, /*keep_bsr=*/fast);
      std::vector<float> bias;
      if (n.bias) bias.assign(n.bias, n.bias + a.out_channels);
      if (f.folded_bn) {
        std::vector<double> scale, shift;
        bn_affine(*f.folded_bn, &scale, &shift);
        fold_affine(w, bias, a.out_channels, scale.data(), shift.data());
      }
      rep->format = format_string(n.weight);
      const int64_t mk = n.weight.rows * n.weight.cols;
      rep->density = mk ? double(n.weight.stored_values()) / double(mk) : 1.0;
      const std::vector<int64_t>& yd = g.values[n.output].dims;
      rep->dense_flops = 2 * mk * yd[1] * yd[2];
      rep->useful_flops = 2 * n.weight.stored_values() * yd[1] * yd[2];
      if (fast) {
        *weight_bytes += weight_bytes_of(w) + static_cast<int64_t>(bias.size() * 4);
        ops::ConvParams cp;
        cp.out_channels = a.out_channels;
        cp.in_channels = a.in_channels;
        cp.kh = a.kh;
        cp.kw = a.kw;
        cp.stride_h = a.sh;
        cp.stride_w = a.sw;
        cp.pad_h = a.pt;
        cp.pad_w = a.pl;
        cp.groups = a.groups;
        cp.act = clamp_of(f.act);
        std::unique_ptr<ops::DirectConv2d> direct;
        std::unique_ptr<ops::DnnlConv2d> dnnl;
        if (w.is_bsr)
          direct = std::make_unique<ops::DirectConv2d>(w.bsr, cp, std::move(bias));
        else if (!w.dense)
          direct = std::make_unique<ops::DirectConv2d>(w.csr, cp, std::move(bias));
        else if (!ops::prefer_onednn(cp))
          direct = ops::DirectConv2d::dense(w.values.data(), cp, std::move(bias));
        else
          dnnl = std::make_unique<ops::DnnlConv2d>(w.values.data(), cp, std::move(bias));
        auto layer = std::make_unique<FastConvLayer>(std::move(direct), std::move(dnnl), x[1],
                                                     x[2], f.act, f.residual >= 0, out_numel,
                                                     rep->useful_flops + out_numel);
        rep->kernel = layer->kernel();
        return layer;
      }
      ops::Conv2dParams p;
      p.cin = a.in_channels; p.cout = a.out_channels; p.h = x[1]; p.w = x[2];
      p.kh = a.kh; p.kw = a.kw; p.sh = a.sh; p.sw = a.sw; p.dh = a.dh; p.dw = a.dw;
      p.pt = a.pt; p.pl = a.pl; p.pb = a.pb; p.pr = a.pr; p.groups = a.groups;
      const std::vector<int64_t>& y = g.values[n.output].dims;
      p.ho = y[1]; p.wo = y[2];
      *weight_bytes += weight_bytes_of(w) + static_cast<int64_t>(bias.size() * 4);
      auto op = std::make_unique<ops::Conv2dFallback>(p, w.dense ? std::move(w.values) : std::vector<float>{},
                                                      std::move(w.csr), std::move(bias), f.act);
      rep->kernel = op->kernel_name();
      const int64_t work = rep->useful_flops + out_numel + op->scratch_floats();
      return std::make_unique<ConvLayer>(std::move(op), work);
    }
    case OpType::kLinear: {
      const Attrs& a = n.attrs;
      // BSR runs natively for the block shapes with kernels; others are expanded to CSR.
      bool bsr_kernel = false;
      for (const auto& [br, bc] : dispatch::bsr_block_shapes())
        bsr_kernel |= n.weight.br == br && n.weight.bc == bc;
      PackedWeight w = pack_weight(n.weight, n.name, bsr_kernel);
      std::vector<float> bias;
      if (n.bias) bias.assign(n.bias, n.bias + a.out_features);
      *weight_bytes += weight_bytes_of(w) + static_cast<int64_t>(bias.size() * 4);
      auto layer = std::make_unique<LinearLayer>(std::move(w), a.out_features, a.in_features,
                                                 std::move(bias), f.act);
      rep->kernel = layer->kernel(1);
      if (rep->kernel != layer->kernel(2)) rep->kernel += std::string(" (n=1), ") + layer->kernel(2) + " (n>1)";
      rep->format = format_string(n.weight);
      const int64_t mk = n.weight.rows * n.weight.cols;
      rep->density = mk ? double(n.weight.stored_values()) / double(mk) : 1.0;
      rep->dense_flops = 2 * mk;
      rep->useful_flops = 2 * n.weight.stored_values();
      return layer;
    }
    case OpType::kBatchNorm: {
      std::vector<double> scale, shift;
      bn_affine(n, &scale, &shift);
      rep->kernel = "channel_affine";
      rep->dense_flops = rep->useful_flops = 2 * out_numel;
      *weight_bytes += static_cast<int64_t>(scale.size() * 8);
      return std::make_unique<AffineLayer>(std::vector<float>(scale.begin(), scale.end()),
                                           std::vector<float>(shift.begin(), shift.end()),
                                           prod(x, 1));
    }
    case OpType::kRelu: case OpType::kRelu6: case OpType::kHardswish: case OpType::kSigmoid: {
      Act act = n.op == OpType::kRelu ? Act::kRelu : n.op == OpType::kRelu6 ? Act::kRelu6
              : n.op == OpType::kHardswish ? Act::kHardswish : Act::kSigmoid;
      rep->kernel = "elementwise";
      rep->dense_flops = rep->useful_flops = out_numel;
      return std::make_unique<ActLayer>(act, out_numel);
    }
    case OpType::kAdd:
      rep->kernel = "elementwise";
      rep->dense_flops = rep->useful_flops = out_numel;
      return std::make_unique<AddLayer>(f.act, out_numel);
    case OpType::kConcat: {
      std::vector<int64_t> sizes;
      for (int v : n.inputs) sizes.push_back(g.values[v].numel());
      rep->kernel = "copy";
      return std::make_unique<ConcatLayer>(std::move(sizes));
    }
    case OpType::kMaxPool2d: case OpType::kAvgPool2d: case OpType::kGlobalAvgPool: {
      const Attrs& a = n.attrs;
      ops::Pool2dParams p;
      p.kh = a.kh; p.kw = a.kw; p.sh = a.sh; p.sw = a.sw; p.dh = a.dh; p.dw = a.dw;
      p.pt = a.pt; p.pl = a.pl; p.pb = a.pb; p.pr = a.pr;
      p.count_include_pad = a.count_include_pad;
      const std::vector<int64_t>& y = g.values[n.output].dims;
      auto kind = n.op == OpType::kMaxPool2d ? PoolLayer::kMax
                : n.op == OpType::kAvgPool2d ? PoolLayer::kAvg : PoolLayer::kGlobal;
      rep->kernel = n.op == OpType::kMaxPool2d ? "max_pool2d"
                  : n.op == OpType::kAvgPool2d ? "avg_pool2d" : "global_avg_pool";
      rep->dense_flops = rep->useful_flops =
          kind == PoolLayer::kGlobal ? prod(x) : out_numel * a.kh * a.kw;
      return std::make_unique<PoolLayer>(kind, p, x[0], x[1], x[2], y[1], y[2]);
    }
    case OpType::kSoftmax: {
      // value dims exclude the batch: axis a (>= 1) is dims[a - 1]
      const size_t ax = static_cast<size_t>(n.attrs.axis) - 1;
      rep->kernel = "softmax";
      rep->dense_flops = rep->useful_flops = 3 * out_numel;
      return std::make_unique<SoftmaxLayer>(prod(x, 0, ax), x[ax], prod(x, ax + 1));
    }
    case OpType::kIdentity: case OpType::kFlatten: case OpType::kReshape:
      break;  // aliases: the planner never asks for a layer
  }
  throw Error(std::string("internal: no layer for op ") + op_name(n.op));
}

}  // namespace sparse_rt::graph
