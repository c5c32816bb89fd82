// The public Model/Session API on the golden file tests/data/tiny_cnn.sprt, and the C++
// reader on bad files.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "sparse_rt/sparse_rt.h"

namespace {

const std::string kDir = SPARSE_RT_TEST_DATA_DIR;
const std::string kModel = kDir + "/tiny_cnn.sprt";

std::vector<float> golden_input(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n * 3 * 16 * 16));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 8.0f;
  return x;
}

std::vector<float> expected_output() {
  std::ifstream f(kDir + "/tiny_cnn_expected.txt");
  std::string line;
  while (std::getline(f, line) && line.rfind("#", 0) == 0) {
  }
  std::vector<float> v;
  float x;
  while (f >> x) v.push_back(x);
  return v;  // the dims line "2 10" was consumed by getline
}

std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string write_temp(const std::string& bytes, const std::string& name) {
  std::string p = ::testing::TempDir() + name;
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

void expect_close(const std::vector<float>& got, const std::vector<float>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i]))) << "at " << i;
}

TEST(Model, GoldenFileMatchesExpectedOnEveryIsa) {
  const std::vector<float> want = expected_output();
  ASSERT_EQ(want.size(), 20u);
  const std::string before = sparse_rt::current_isa();
  for (const std::string& isa : sparse_rt::runtime_info().isa_available) {
    sparse_rt::set_isa(isa);
    auto model = sparse_rt::Model::load(kModel);
    ASSERT_EQ(model->inputs().size(), 1u);
    EXPECT_EQ(model->inputs()[0].name, "x");
    EXPECT_EQ(model->inputs()[0].shape, (std::vector<int64_t>{-1, 3, 16, 16}));
    EXPECT_EQ(model->outputs()[0].name, "logits");
    sparse_rt::Session session(model);
    std::vector<float> x = golden_input(2);
    std::vector<sparse_rt::Tensor> y = session.run({sparse_rt::Tensor::view(x.data(), {2, 3, 16, 16})});
    ASSERT_EQ(y.size(), 1u);
    EXPECT_EQ(y[0].shape(), (std::vector<int64_t>{2, 10}));
    expect_close(std::vector<float>(y[0].data(), y[0].data() + 20), want);
    // batch 1 into a caller-provided output
    std::vector<float> out(10);
    std::vector<sparse_rt::Tensor> outs = {sparse_rt::Tensor::view(out.data(), {1, 10})};
    session.run({sparse_rt::Tensor::view(x.data(), {1, 3, 16, 16})}, outs);
    expect_close(out, std::vector<float>(want.begin(), want.begin() + 10));
  }
  sparse_rt::set_isa(before);
}

TEST(Model, ReportAndSummary) {
  auto model = sparse_rt::Model::load(kModel);
  std::vector<sparse_rt::LayerReport> rows = model->report();
  ASSERT_EQ(rows.size(), 9u);
  EXPECT_EQ(rows[0].name, "stem");
  EXPECT_EQ(rows[0].fused, (std::vector<std::string>{"stem_bn", "stem_relu"}));
  EXPECT_EQ(rows[1].format, "csr");
  EXPECT_LT(rows[1].useful_flops, rows[1].dense_flops);
  EXPECT_EQ(rows[2].format, "bsr 4x4");
  // the residual add and its relu run in b2's epilogue; the residual is b2's second input
  EXPECT_EQ(rows[2].fused, (std::vector<std::string>{"res", "res_relu"}));
  EXPECT_EQ(rows[2].activation, "relu");
  EXPECT_EQ(rows[2].input_shapes.size(), 2u);
  EXPECT_NE(model->summary().find("logits [N, 10]"), std::string::npos);
  EXPECT_GT(model->weight_bytes(), 0);
  EXPECT_GT(model->activation_bytes_per_sample(), 0);
}

TEST(Model, WrongInputShapeNamesTheExpectedShape) {
  auto model = sparse_rt::Model::load(kModel);
  sparse_rt::Session session(model);
  std::vector<float> x(3 * 16 * 15);
  try {
    session.run({sparse_rt::Tensor::view(x.data(), {1, 3, 16, 15})});
    FAIL() << "no exception";
  } catch (const sparse_rt::InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("expected [N, 3, 16, 16]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(session.run({}), sparse_rt::InvalidArgument);
}

TEST(Model, SessionsOnThreadsAgree) {
  auto model = sparse_rt::Model::load(kModel, sparse_rt::LoadOptions{1});
  const std::vector<float> x = golden_input(2);
  sparse_rt::Session s0(model);
  std::vector<sparse_rt::Tensor> ref = s0.run({sparse_rt::Tensor::view(x.data(), {2, 3, 16, 16})});
  std::vector<int> ok(4, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      sparse_rt::Session s(model);
      bool same = true;
      for (int rep = 0; rep < 20; ++rep) {
        auto y = s.run({sparse_rt::Tensor::view(x.data(), {2, 3, 16, 16})});
        for (int i = 0; i < 20; ++i) same &= y[0].data()[i] == ref[0].data()[i];
      }
      ok[t] = same;
    });
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_TRUE(ok[t]) << "thread " << t;
}

TEST(Model, BadFilesThrowModelFormatError) {
  const std::string good = read_file(kModel);
  ASSERT_GT(good.size(), 64u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(good[i]);
  struct Case {
    std::string bytes, fragment;
  };
  std::string lie = good;
  lie[0] = static_cast<char>(0xff);
  lie[5] = 0x10;
  std::string index = good;  // flip one byte inside the data buffer's first tensor
  std::vector<Case> cases = {
      {good.substr(0, 5), "too short"},
      {good.substr(0, 8 + n / 2), "truncated"},
      {good.substr(0, good.size() - 1), "truncated"},
      {lie, "out of range"},
      {good + std::string(64, '\0'), "trailing bytes"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    const std::string p = write_temp(cases[i].bytes, "bad_" + std::to_string(i) + ".sprt");
    try {
      sparse_rt::Model::load(p);
      ADD_FAILURE() << "case " << i << " loaded";
    } catch (const sparse_rt::ModelFormatError& e) {
      const std::string msg = e.what();
      EXPECT_EQ(msg.rfind(p + ": ", 0), 0u) << msg;  // the path is named
      EXPECT_NE(msg.find(cases[i].fragment), std::string::npos) << "case " << i << ": " << msg;
    }
    std::remove(p.c_str());
  }
  // an unknown op, edited inside the JSON document (same length, so offsets stay valid)
  std::string op = good;
  const size_t at = op.find("max_pool2d");
  ASSERT_NE(at, std::string::npos);
  op.replace(at, 10, "max_poolXd");
  const std::string p = write_temp(op, "bad_op.sprt");
  try {
    sparse_rt::Model::load(p);
    ADD_FAILURE() << "unknown op loaded";
  } catch (const sparse_rt::ModelFormatError& e) {
    EXPECT_NE(std::string(e.what()).find("node 'pool': unknown op 'max_poolXd'"), std::string::npos)
        << e.what();
  }
  std::remove(p.c_str());
  EXPECT_THROW(sparse_rt::Model::load(kDir + "/does_not_exist.sprt"), sparse_rt::InvalidArgument);
}

TEST(Tensor, OwningAndViews) {
  sparse_rt::Tensor t = sparse_rt::Tensor::zeros({2, 3});
  EXPECT_TRUE(t.owns_data());
  EXPECT_EQ(t.numel(), 6);
  EXPECT_EQ(t.shape_string(), "[2, 3]");
  EXPECT_EQ(t.data()[5], 0.0f);
  float buf[4] = {1, 2, 3, 4};
  sparse_rt::Tensor v = sparse_rt::Tensor::view(buf, {4});
  EXPECT_FALSE(v.owns_data());
  EXPECT_EQ(v.data(), buf);
  EXPECT_THROW(sparse_rt::Tensor::zeros({-1}), sparse_rt::InvalidArgument);
}

}  // namespace
