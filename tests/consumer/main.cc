// Uses only the installed public headers: builds a sparse matrix, multiplies it under every
// ISA path this machine has, and checks the product against a plain loop; then loads a real
// model file (argv[1], the golden tests/data/tiny_cnn.sprt) and compares its output with the
// expected values (argv[2]).
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include <sparse_rt/sparse_rt.h>

// Golden model check: input x.flat[i] = ((i % 17) - 8) / 8 at batch 2 (tests/data/make_tiny_cnn.py).
int check_model(const char* model_path, const char* expected_path) {
  std::ifstream f(expected_path);
  std::string line;
  while (std::getline(f, line) && line.rfind("#", 0) == 0) {
  }
  std::vector<float> want;
  for (float v; f >> v;) want.push_back(v);
  auto model = sparse_rt::Model::load(model_path);
  std::vector<int64_t> shape = model->inputs().at(0).shape;
  shape[0] = 2;
  std::vector<float> x(2 * 3 * 16 * 16);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 17) - 8) / 8.0f;
  sparse_rt::Session session(model);
  std::vector<sparse_rt::Tensor> y = session.run({sparse_rt::Tensor::view(x.data(), shape)});
  if (y.size() != 1 || static_cast<size_t>(y[0].numel()) != want.size() || want.empty()) {
    std::printf("model output has %lld values, expected %zu\n", static_cast<long long>(y[0].numel()),
                want.size());
    return 1;
  }
  double err = 0;
  for (size_t i = 0; i < want.size(); ++i)
    err = std::fmax(err, std::fabs(y[0].data()[i] - want[i]) / (1.0 + std::fabs(want[i])));
  std::printf("model %s: %zu layers, output %s, max rel. error %.2e\n", model_path,
              model->report().size(), y[0].shape_string().c_str(), err);
  return err < 1e-4 ? 0 : 1;
}

int main(int argc, char** argv) {
  const int64_t m = 64, k = 96, n = 24;
  std::vector<float> w(m * k, 0.0f), x(k * n), want(m * n, 0.0f);
  for (int64_t i = 0; i < m * k; ++i)
    if (i % 7 == 0) w[i] = 0.01f * static_cast<float>(i % 13) - 0.05f;
  for (int64_t i = 0; i < k * n; ++i) x[i] = std::sin(0.1f * static_cast<float>(i));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) want[i * n + j] += w[i * k + p] * x[p * n + j];

  sparse_rt::CsrMatrix csr = sparse_rt::CsrMatrix::from_dense(w.data(), m, k);
  sparse_rt::RuntimeInfo info = sparse_rt::runtime_info();
  std::printf("sparse_rt %s, isa %s, %d threads, density %.3f\n", info.version.c_str(),
              info.isa.c_str(), info.num_threads, csr.density());
  for (const std::string& isa : info.isa_available) {
    sparse_rt::set_isa(isa);
    std::vector<float> y(m * n);
    std::string kernel = sparse_rt::spmm(csr, x.data(), n, y.data());
    double err = 0;
    for (int64_t i = 0; i < m * n; ++i) err = std::fmax(err, std::fabs(y[i] - want[i]));
    std::printf("  %-8s %-28s max |error| %.2e\n", isa.c_str(), kernel.c_str(), err);
    if (!(err < 1e-4)) return 1;
  }
  try {
    sparse_rt::set_isa("sse9");
    return 1;
  } catch (const sparse_rt::InvalidArgument& e) {
    std::printf("bad ISA rejected: %s\n", e.what());
  }
  if (argc >= 3 && check_model(argv[1], argv[2]) != 0) return 1;
  std::printf("consumer: ok\n");
  return 0;
}
