// Multiplies a 90%-sparse 1024 x 1024 matrix by a 1024 x 64 block with sparse_rt and with a
// plain dense loop, and prints both times.  Usage: sparse_matmul [sparsity]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include <sparse_rt/sparse_rt.h>

int main(int argc, char** argv) {
  const double sparsity = argc > 1 ? std::atof(argv[1]) : 0.9;
  const int64_t m = 1024, k = 1024, n = 64;
  std::mt19937 gen(0);
  std::uniform_real_distribution<float> val(-1, 1), coin(0, 1);
  std::vector<float> w(m * k), x(k * n), y(m * n), y_dense(m * n, 0.0f);
  for (float& v : w) v = coin(gen) < sparsity ? 0.0f : val(gen);
  for (float& v : x) v = val(gen);

  const sparse_rt::CsrMatrix csr = sparse_rt::CsrMatrix::from_dense(w.data(), m, k);
  auto t0 = std::chrono::steady_clock::now();
  std::string kernel = sparse_rt::spmm(csr, x.data(), n, y.data());
  auto t1 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) y_dense[i * n + j] += w[i * k + p] * x[p * n + j];
  auto t2 = std::chrono::steady_clock::now();

  double max_err = 0;
  for (int64_t i = 0; i < m * n; ++i)
    max_err = std::max(max_err, static_cast<double>(std::abs(y[i] - y_dense[i])));
  auto ms = [](auto a, auto b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
  std::printf("density %.3f  sparse_rt %s: %.3f ms  naive dense loop: %.3f ms  max |diff| %.1e\n",
              csr.density(), kernel.c_str(), ms(t0, t1), ms(t1, t2), max_err);
  return max_err < 1e-3 ? 0 : 1;
}
