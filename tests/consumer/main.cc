// Uses only the installed public headers: builds a sparse matrix, multiplies it under every
// ISA path this machine has, and checks the product against a plain loop.
#include <cmath>
#include <cstdio>
#include <vector>

#include <sparse_rt/sparse_rt.h>

int main() {
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
  std::printf("consumer: ok\n");
  return 0;
}
