#include "graph/plan.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <string>
#include <limits>

#include "graph/layers.h"
#include "sparse_rt/status.h"

namespace sparse_rt::graph {

const char* op_name(OpType op) {
  switch (op) {
    case OpType::kConv2d: return "conv2d";
    case OpType::kLinear: return "linear";
    case OpType::kBatchNorm: return "batch_norm";
    case OpType::kRelu: return "relu";
    case OpType::kRelu6: return "relu6";
    case OpType::kHardswish: return "hardswish";
    case OpType::kSigmoid: return "sigmoid";
    case OpType::kIdentity: return "identity";
    case OpType::kAdd: return "add";
    case OpType::kConcat: return "concat";
    case OpType::kMaxPool2d: return "max_pool2d";
    case OpType::kAvgPool2d: return "avg_pool2d";
    case OpType::kGlobalAvgPool: return "global_avg_pool";
    case OpType::kFlatten: return "flatten";
    case OpType::kReshape: return "reshape";
    case OpType::kSoftmax: return "softmax";
  }
  return "?";
}

const char* format_name(WeightFormat f) {
  switch (f) {
    case WeightFormat::kDense: return "dense";
    case WeightFormat::kCsr: return "csr";
    case WeightFormat::kBsr: return "bsr";
  }
  return "?";
}

namespace {

constexpr int64_t kAlignFloats = 16;  // 64 bytes: every buffer starts cache-line aligned

Act act_of(OpType op) {
  switch (op) {
    case OpType::kRelu: return Act::kRelu;
    case OpType::kRelu6: return Act::kRelu6;
    case OpType::kHardswish: return Act::kHardswish;
    case OpType::kSigmoid: return Act::kSigmoid;
    default: return Act::kNone;
  }
}

bool is_activation(OpType op) { return act_of(op) != Act::kNone; }

std::vector<int64_t> with_batch(int64_t fixed_batch, const std::vector<int64_t>& dims) {
  std::vector<int64_t> s;
  s.push_back(fixed_batch ? fixed_batch : -1);
  s.insert(s.end(), dims.begin(), dims.end());
  return s;
}

// The batch tail (plan.h): the longest run of last steps whose inputs and output hold at most
// kTailFloats floats per sample, if it has a linear layer (a classifier: per sample, it
// streams its weights for a few thousand FMAs; over a batch it reads them once), some step
// before it has larger values (else the lanes' chunks already hold many samples) and every
// graph output is in the tail buffer or an input. Measured (2 threads, batch 16, lanes):
// ResNet-50 90% fc 3.4 ms per batch in the lanes, MobileNetV1 1.8 ms; see docs/runtime.md.
void plan_tail(Plan& P, const std::vector<bool>& external) {
  constexpr int64_t kTailFloats = 16384;
  const size_t nv = P.values.size();
  P.tail_begin = P.steps.size();
  P.tail_offset.assign(nv, -1);
  P.tail_cut.clear();
  P.tail_per_sample = 0;
  size_t t = P.steps.size();
  bool linear = false;
  while (t > 0) {
    const Step& s = P.steps[t - 1];
    bool small = P.values[s.output].numel() <= kTailFloats;
    for (int v : s.inputs) small = small && P.values[P.root[v]].numel() <= kTailFloats;
    if (!small) break;
    linear = linear || s.report.op == "linear";
    --t;
  }
  if (!linear || t == 0) return;  // t == 0: every value is small, lanes keep whole chunks
  std::vector<bool> in_tail(nv, false), produced(nv, false);
  for (size_t s = t; s < P.steps.size(); ++s) {
    for (int v : P.steps[s].inputs) in_tail[P.root[v]] = true;
    in_tail[P.steps[s].output] = produced[P.steps[s].output] = true;
  }
  for (int v : P.outputs)
    if (!in_tail[P.root[v]] && !external[P.root[v]]) return;  // an output the tail cannot see
  int64_t at = 0;
  for (size_t v = 0; v < nv; ++v) {
    if (!in_tail[v] || external[v]) continue;
    P.tail_offset[v] = at;
    at += (P.values[v].numel() + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
    if (!produced[v]) P.tail_cut.push_back(static_cast<int>(v));
  }
  P.tail_begin = t;
  P.tail_per_sample = at;
}

}  // namespace

std::unique_ptr<Plan> build_plan(Graph g) {
  const size_t nv = g.values.size();
  std::vector<int> consumers(nv, 0);
  std::vector<bool> is_output(nv, false);
  for (const Node& n : g.nodes)
    for (int v : n.inputs) ++consumers[v];
  for (int v : g.outputs) is_output[v] = true;

  // ---- fusions ----
  struct Rec {
    FusedNode f;
    int output;
    std::vector<std::string> fused;
  };
  std::vector<Rec> recs;
  std::vector<int> producer(nv, -1);
  auto single_use = [&](int v) { return consumers[v] == 1 && !is_output[v]; };
  // SPARSE_RT_FUSE_RESIDUAL=0 keeps adds as layers of their own (for A/B timing in one process).
  const char* env_fuse = std::getenv("SPARSE_RT_FUSE_RESIDUAL");
  const bool fuse_residual = !(env_fuse && std::string(env_fuse) == "0");
  for (const Node& n : g.nodes) {
    const int in0 = n.inputs[0];
    const int p = producer[in0];
    if (n.op == OpType::kBatchNorm && p >= 0 && single_use(in0)) {
      Rec& r = recs[p];
      if (r.f.node->op == OpType::kConv2d && r.f.act == Act::kNone && !r.f.folded_bn &&
          r.f.residual < 0 && r.output == in0) {
        r.f.folded_bn = &n;
        r.output = n.output;
        r.fused.push_back(n.name);
        producer[n.output] = p;
        continue;
      }
    }
    if (is_activation(n.op) && p >= 0 && single_use(in0)) {
      Rec& r = recs[p];
      const OpType pop = r.f.node->op;
      if ((pop == OpType::kConv2d || pop == OpType::kLinear || pop == OpType::kAdd) &&
          r.f.act == Act::kNone && r.output == in0) {
        r.f.act = act_of(n.op);
        r.output = n.output;
        r.fused.push_back(n.name);
        producer[n.output] = p;
        continue;
      }
    }
    if (n.op == OpType::kAdd && n.inputs.size() == 2 && fuse_residual) {
      // Residual: fold the add into the conv that produces the input computed LATER, so the
      // other input exists when the conv runs; that value becomes an input of the conv's step
      // (so the memory plan keeps it alive and never gives the conv's output its buffer).
      const int later = producer[n.inputs[0]] > producer[n.inputs[1]] ? 0 : 1;
      const int v = n.inputs[later], other = n.inputs[1 - later];
      const int pv = producer[v];
      const auto& dims = g.values[n.output].dims;
      if (pv >= 0 && pv > producer[other] && single_use(v) && g.values[v].dims == dims &&
          g.values[other].dims == dims) {
        Rec& r = recs[pv];
        if (r.f.node->op == OpType::kConv2d && fast_conv(r.f.node->attrs) &&
            r.f.act == Act::kNone && r.f.residual < 0 && r.output == v) {
          r.f.residual = other;
          r.f.act = n.attrs.act;
          r.output = n.output;
          r.fused.push_back(n.name);
          producer[n.output] = pv;
          continue;
        }
      }
    }
    Rec r;
    r.f.node = &n;
    r.f.act = (n.op == OpType::kConv2d || n.op == OpType::kLinear || n.op == OpType::kAdd)
                  ? n.attrs.act : Act::kNone;
    r.output = n.output;
    producer[n.output] = static_cast<int>(recs.size());
    recs.push_back(std::move(r));
  }

  auto plan = std::make_unique<Plan>();
  Plan& P = *plan;
  P.values = g.values;
  P.inputs = g.inputs;
  P.outputs = g.outputs;
  P.output_names = g.output_names;
  P.fixed_batch = g.fixed_batch;
  P.producer = g.producer;
  P.root.resize(nv);
  for (size_t v = 0; v < nv; ++v) P.root[v] = static_cast<int>(v);

  // ---- layers (weights packed here) and aliases ----
  for (const Rec& r : recs) {
    const Node& n = *r.f.node;
    if (n.op == OpType::kIdentity || n.op == OpType::kFlatten || n.op == OpType::kReshape) {
      P.root[r.output] = P.root[n.inputs[0]];
      continue;
    }
    Step s;
    s.inputs = n.inputs;
    if (r.f.residual >= 0) s.inputs.push_back(r.f.residual);
    s.output = r.output;
    LayerReport& rep = s.report;
    rep.name = n.name;
    rep.op = op_name(n.op);
    rep.fused = r.fused;
    if (n.op == OpType::kConv2d || n.op == OpType::kLinear || n.op == OpType::kAdd)
      rep.activation = ops::act_name(r.f.act);
    for (int v : s.inputs) rep.input_shapes.push_back(with_batch(g.fixed_batch, g.values[v].dims));
    rep.output_shape = with_batch(g.fixed_batch, g.values[r.output].dims);
    s.layer = make_layer(g, r.f, &rep, &P.weight_bytes);
    P.scratch_floats = std::max(P.scratch_floats, s.layer->scratch_floats());
    P.steps.push_back(std::move(s));
  }

  // ---- memory plan: liveness over steps, best-fit reuse of released buffers ----
  const int kForever = std::numeric_limits<int>::max();
  std::vector<int> last_use(nv, -1);
  std::vector<bool> external(nv, false);
  for (int v : g.inputs) external[v] = true;
  for (size_t s = 0; s < P.steps.size(); ++s) {
    last_use[P.steps[s].output] = std::max(last_use[P.steps[s].output], static_cast<int>(s));
    for (int v : P.steps[s].inputs) last_use[P.root[v]] = static_cast<int>(s);
  }
  for (int v : g.outputs) last_use[P.root[v]] = kForever;

  std::vector<int64_t> buf_size;
  std::vector<int> free_bufs, buffer_of(nv, -1);
  for (size_t s = 0; s < P.steps.size(); ++s) {
    const int out = P.steps[s].output;
    const int64_t need = (P.values[out].numel() + kAlignFloats - 1) / kAlignFloats * kAlignFloats;
    P.unplanned_per_sample += need;
    int best = -1;
    for (size_t i = 0; i < free_bufs.size(); ++i) {  // smallest that fits, else the largest
      const int b = free_bufs[i];
      if (best < 0) { best = static_cast<int>(i); continue; }
      const int cur = free_bufs[best];
      const bool fits = buf_size[b] >= need, cur_fits = buf_size[cur] >= need;
      if ((fits && (!cur_fits || buf_size[b] < buf_size[cur])) ||
          (!fits && !cur_fits && buf_size[b] > buf_size[cur]))
        best = static_cast<int>(i);
    }
    // In place: the output takes the buffer of an input the layer may overwrite (a fused
    // residual) when that input dies here and is not also read as another input.
    const Step& step = P.steps[s];
    const int ip = step.layer->in_place_input();
    int in_place = -1;
    if (ip >= 0 && ip < static_cast<int>(step.inputs.size())) {
      const int v = P.root[step.inputs[ip]];
      bool shared = false;
      for (size_t i = 0; i < step.inputs.size(); ++i)
        shared |= static_cast<int>(i) != ip && P.root[step.inputs[i]] == v;
      if (!shared && !external[v] && buffer_of[v] >= 0 && last_use[v] == static_cast<int>(s) &&
          P.values[v].numel() == P.values[out].numel())
        in_place = v;
    }
    int b;
    if (in_place >= 0) {
      b = buffer_of[in_place];
    } else if (best >= 0) {
      b = free_bufs[best];
      free_bufs.erase(free_bufs.begin() + best);
      buf_size[b] = std::max(buf_size[b], need);
    } else {
      b = static_cast<int>(buf_size.size());
      buf_size.push_back(need);
    }
    buffer_of[out] = b;
    // release what dies here (inputs read for the last time, or an unused output)
    std::vector<int> dying;
    for (int v : P.steps[s].inputs) dying.push_back(P.root[v]);
    dying.push_back(out);
    std::sort(dying.begin(), dying.end());
    dying.erase(std::unique(dying.begin(), dying.end()), dying.end());
    for (int v : dying)
      if (v != in_place && !external[v] && buffer_of[v] >= 0 && last_use[v] == static_cast<int>(s))
        free_bufs.push_back(buffer_of[v]);
  }
  std::vector<int64_t> buf_offset(buf_size.size(), 0);
  int64_t total = 0;
  for (size_t b = 0; b < buf_size.size(); ++b) {
    buf_offset[b] = total;
    total += buf_size[b];
  }
  P.arena_per_sample = total;
  P.num_buffers = static_cast<int>(buf_size.size());
  P.offset.assign(nv, -1);
  for (size_t v = 0; v < nv; ++v)
    if (buffer_of[v] >= 0) P.offset[v] = buf_offset[buffer_of[v]];
  plan_tail(P, external);
  return plan;
}

namespace {

float* input_address(const Plan& plan, int root, const float* const* inputs) {
  for (size_t i = 0; i < plan.inputs.size(); ++i)
    if (plan.root[plan.inputs[i]] == root) return const_cast<float*>(inputs[i]);
  return nullptr;
}

}  // namespace

float* value_address(const Plan& plan, int v, const float* const* inputs, float* arena,
                     int64_t batch) {
  const int r = plan.root[v];
  return plan.offset[r] >= 0 ? arena + plan.offset[r] * batch : input_address(plan, r, inputs);
}

float* tail_address(const Plan& plan, int v, const float* const* inputs, float* tail,
                    int64_t batch) {
  const int r = plan.root[v];
  return plan.tail_offset[r] >= 0 ? tail + plan.tail_offset[r] * batch
                                  : input_address(plan, r, inputs);
}

std::vector<const float*> execute(const Plan& plan, const float* const* inputs, int64_t batch,
                                  float* arena, float* scratch, int threads,
                                  std::vector<double>* step_ms) {
  auto where = [&](int v) { return value_address(plan, v, inputs, arena, batch); };
  if (step_ms) step_ms->assign(plan.steps.size(), 0.0);
  run_steps(plan, 0, plan.steps.size(), where, batch, scratch, threads, step_ms);
  std::vector<const float*> outs;
  for (int v : plan.outputs) outs.push_back(where(v));
  return outs;
}

}  // namespace sparse_rt::graph
