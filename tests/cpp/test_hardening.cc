// Hardening of the public Model/Session API (run under ASan + UBSan + LeakSanitizer in CI):
// every fuzzing seed and every input a fuzzer found loads or throws ModelFormatError /
// InvalidArgument; one model on 8 std::threads x 1000 calls with different inputs gives
// exactly the serial results; load/unload cycles and empty batches.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "sparse_rt/sparse_rt.h"

namespace {

namespace fs = std::filesystem;
const std::string kFuzz = SPARSE_RT_FUZZ_DIR;

std::vector<std::string> files_in(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".sprt") v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

// Runs the model once on a deterministic input of the model's shape (batch `b` if free).
std::vector<sparse_rt::Tensor> run_once(sparse_rt::Session& s, int64_t b, float seed) {
  std::vector<std::vector<float>> xs;
  std::vector<sparse_rt::Tensor> ins;
  for (const auto& spec : s.model().inputs()) {
    std::vector<int64_t> shape = spec.shape;
    if (shape[0] < 0) shape[0] = b;
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    std::vector<float> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(seed + 0.37f * static_cast<float>(i));
    xs.push_back(std::move(x));
    ins.push_back(sparse_rt::Tensor::view(xs.back().data(), shape));
  }
  return s.run(ins);
}

TEST(Hardening, CorpusLoadsAndRegressionsAreRejectedCleanly) {
  const auto corpus = files_in(kFuzz + "/corpus");
  ASSERT_GE(corpus.size(), 8u);
  for (const std::string& p : corpus) {
    auto m = sparse_rt::Model::load(p, sparse_rt::LoadOptions{1});
    sparse_rt::Session s(m);
    auto y = run_once(s, 2, 0.5f);
    EXPECT_EQ(y.size(), m->outputs().size()) << p;
  }
  const auto regressions = files_in(kFuzz + "/regressions");
  ASSERT_GE(regressions.size(), 1u);
  for (const std::string& p : regressions) {
    try {
      auto m = sparse_rt::Model::load(p, sparse_rt::LoadOptions{1});
      sparse_rt::Session s(m);
      run_once(s, 1, 0.f);
    } catch (const sparse_rt::InvalidArgument& e) {  // ModelFormatError is one
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
}

TEST(Hardening, EightThreadsMatchSerialBitForBit) {
  auto model = sparse_rt::Model::load(kFuzz + "/corpus/conv_bsr_add_concat.sprt",
                                      sparse_rt::LoadOptions{1});
  constexpr int kThreads = 8, kCalls = 1000;
  // serial reference, one result per (input seed, batch)
  sparse_rt::Session s0(model);
  std::vector<std::vector<float>> serial;
  for (int i = 0; i < kThreads * kCalls; ++i) {
    auto y = run_once(s0, 1 + i % 3, static_cast<float>(i));
    serial.emplace_back(y[0].data(), y[0].data() + y[0].numel());
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      sparse_rt::Session s(model);
      for (int i = t; i < kThreads * kCalls; i += kThreads) {
        auto y = run_once(s, 1 + i % 3, static_cast<float>(i));
        const auto& want = serial[static_cast<size_t>(i)];
        if (static_cast<size_t>(y[0].numel()) != want.size() ||
            std::memcmp(y[0].data(), want.data(), want.size() * sizeof(float)) != 0)
          ++mismatches[t];
      }
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[t], 0) << "thread " << t;
}

TEST(Hardening, LoadUnloadCyclesAndEmptyBatch) {
  // Leaks here are reported by LeakSanitizer in the sanitizer build.
  const auto corpus = files_in(kFuzz + "/corpus");
  for (int i = 0; i < 200; ++i) {
    auto m = sparse_rt::Model::load(corpus[static_cast<size_t>(i) % corpus.size()]);
    if (i % 2 == 0) {
      sparse_rt::Session s(m);
      run_once(s, 2, 1.f);
    }
  }
  auto m = sparse_rt::Model::load(kFuzz + "/corpus/conv_csr_bn_pool.sprt");
  sparse_rt::Session s(m);
  auto y = run_once(s, 0, 0.f);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{0, 3}));
  y = run_once(s, 3, 0.f);
  EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{3, 3}));
}

TEST(Hardening, NonFiniteInputsPropagate) {
  auto m = sparse_rt::Model::load(kFuzz + "/corpus/linear_dense.sprt");
  sparse_rt::Session s(m);
  std::vector<float> x = {1, 2, 3, 4, 1, NAN, 3, 4, 1, 2, INFINITY, 4};
  auto y = s.run({sparse_rt::Tensor::view(x.data(), {3, 4})});
  for (int j = 0; j < 3; ++j) {
    EXPECT_TRUE(std::isfinite(y[0].data()[j]));
    EXPECT_TRUE(std::isnan(y[0].data()[3 + j]));
    EXPECT_FALSE(std::isfinite(y[0].data()[6 + j]));
  }
}

}  // namespace
