// libFuzzer target: the C++ model reader (io::parse_model, every rule of docs/format.md), the
// planner (graph::build_plan: folding, fusion, weight packing, memory plan) and, when the plan
// is small, one inference on zeros. A file is untrusted input: the only acceptable outcomes
// are success, ModelFormatError or InvalidArgument. Any other exception aborts (a finding), as
// do crashes, sanitizer reports, timeouts and out-of-memory (libFuzzer's -rss_limit_mb).
//
// Mutations: half the time libFuzzer's own byte mutations of the whole file; otherwise the
// JSON header alone is mutated (bytes inserted, erased, changed) and the file re-framed: the
// 8-byte length rewritten and the header re-padded to the 64-byte boundary, so mutations reach
// the document checks instead of stopping at "header length exceeds the file".
//
// Build: cmake -DSPARSE_RT_BUILD_FUZZ=ON -DSPARSE_RT_SANITIZE=ON with CXX=clang++ (see
// tests/fuzz/README.md). Seed corpus: python tests/fuzz/make_corpus.py.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "graph/plan.h"
#include "io/model_reader.h"
#include "sparse_rt/status.h"

namespace {

constexpr int64_t kMaxRunFloats = int64_t{1} << 22;  // run the plan only when it is this small

void run_once(const sparse_rt::graph::Plan& plan) {
  const int64_t batch = plan.fixed_batch ? plan.fixed_batch : 1;
  if (plan.arena_per_sample > kMaxRunFloats / batch || plan.scratch_floats > kMaxRunFloats) return;
  std::vector<std::vector<float>> inputs;
  std::vector<const float*> ptrs;
  for (int v : plan.inputs) {
    const int64_t n = plan.values[v].numel();
    if (n > kMaxRunFloats / batch) return;
    inputs.emplace_back(static_cast<size_t>(n * batch), 0.5f);
  }
  for (const auto& x : inputs) ptrs.push_back(x.data());
  std::vector<float> arena(static_cast<size_t>(plan.arena_per_sample * batch) + 16);
  std::vector<float> scratch(static_cast<size_t>(plan.scratch_floats) + 16);
  sparse_rt::graph::execute(plan, ptrs.data(), batch, arena.data(), scratch.data(), 1, nullptr);
}

}  // namespace

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size,
                                          unsigned int seed) {
  uint64_t n = 0;
  if (size >= 8)
    for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (seed % 2 == 0 || size < 8 || n < 2 || n > size - 8)
    return LLVMFuzzerMutate(data, size, max_size);
  size_t len = static_cast<size_t>(n);
  while (len > 1 && data[8 + len - 1] == ' ') --len;  // the JSON text without its padding
  const size_t tail = size - 8 - static_cast<size_t>(n);  // the data buffer
  if (max_size < 8 + tail + 128) return LLVMFuzzerMutate(data, size, max_size);
  const size_t cap = max_size - 8 - tail - 64;  // room for the text and its padding
  std::vector<uint8_t> text(std::max(cap, len));
  std::memcpy(text.data(), data + 8, len);
  std::vector<uint8_t> buf(data + 8 + n, data + size);
  size_t m = LLVMFuzzerMutate(text.data(), len, cap);
  if (m == 0) m = 1;
  const size_t padded = m + (64 - (8 + m) % 64) % 64;
  for (int i = 0; i < 8; ++i) data[i] = static_cast<uint8_t>(uint64_t(padded) >> (8 * i));
  std::memcpy(data + 8, text.data(), m);
  std::memset(data + 8 + m, ' ', padded - m);
  if (tail) std::memcpy(data + 8 + padded, buf.data(), tail);
  return 8 + padded + tail;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader maps files page-aligned; tensors are 64-byte aligned within the file.
  void* mem = std::aligned_alloc(64, (size + 63) / 64 * 64 + 64);
  if (size) std::memcpy(mem, data, size);
  std::shared_ptr<const void> keep(mem, [](const void* p) { std::free(const_cast<void*>(p)); });
  try {
    sparse_rt::graph::Graph g =
        sparse_rt::io::parse_model(static_cast<const uint8_t*>(mem), size, keep);
    keep.reset();
    std::unique_ptr<sparse_rt::graph::Plan> plan = sparse_rt::graph::build_plan(std::move(g));
    run_once(*plan);
  } catch (const sparse_rt::ModelFormatError&) {
  } catch (const sparse_rt::InvalidArgument&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_reader: unexpected exception: %s\n", e.what());
    std::abort();
  }
  return 0;
}
