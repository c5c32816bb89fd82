// C++ timing loop over ops::DirectConv2d::run without Python or torch in the process (one
// OpenMP runtime only): the fastest of `reps` calls, for 1 -> 2 thread scaling and kernel
// experiments. Built with the C++ tests (tests/cpp/CMakeLists.txt), e.g.
//
//   cmake -S . -B build/cpp -G Ninja -DSPARSE_RT_BUILD_TESTS=ON && cmake --build build/cpp
//   build/cpp/tests/cpp/conv_microbench C O H k stride sparsity threads [reps]
//
// Environment: BATCH=n (default 1), DENSE=1 (dense weights through DirectConv2d::dense),
// PAD0=1 (no padding; default k/2).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "ops/conv.h"

using namespace sparse_rt;

int main(int argc, char** argv) {
  if (argc < 8) {
    std::fprintf(stderr, "usage: %s C O H k stride sparsity threads [reps]\n", argv[0]);
    return 2;
  }
  const int c = std::atoi(argv[1]), o = std::atoi(argv[2]), h = std::atoi(argv[3]);
  const int k = std::atoi(argv[4]), s = std::atoi(argv[5]);
  const double sparsity = std::atof(argv[6]);
  const int threads = std::atoi(argv[7]), reps = argc > 8 ? std::atoi(argv[8]) : 200;
  const int n = std::getenv("BATCH") ? std::atoi(std::getenv("BATCH")) : 1;
  ops::ConvParams p;
  p.out_channels = o;
  p.in_channels = c;
  p.kh = p.kw = k;
  p.stride_h = p.stride_w = s;
  p.pad_h = p.pad_w = std::getenv("PAD0") ? 0 : k / 2;
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1), u01(0, 1);
  std::vector<float> w(static_cast<size_t>(o) * c * k * k);
  for (auto& v : w) v = u01(rng) < sparsity ? 0.f : u(rng);
  const CsrMatrix csr = CsrMatrix::from_dense(w.data(), o, static_cast<int64_t>(c) * k * k);
  std::unique_ptr<ops::DirectConv2d> conv =
      std::getenv("DENSE") ? ops::DirectConv2d::dense(w.data(), p, {})
                           : std::make_unique<ops::DirectConv2d>(csr, p, std::vector<float>{});
  std::vector<float> x(static_cast<size_t>(n) * c * h * h);
  for (auto& v : x) v = u(rng);
  const int64_t ho = p.out_h(h);
  std::vector<float> y(static_cast<size_t>(n) * o * ho * ho);
  std::vector<double> ts;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    conv->run(x.data(), n, h, h, y.data(), threads);
    ts.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ts.begin(), ts.end());
  const double useful = 2.0 * csr.nnz() * ho * ho * n;
  std::printf("%s %dx%d %d->%d @%d s%d sparsity %.2f batch %d threads %d: min %.3f ms, median "
              "%.3f ms, useful %.1f GFLOP/s (min)\n",
              conv->kernel_name(h, h), k, k, c, o, h, s, sparsity, n, threads, ts[0] * 1e3,
              ts[ts.size() / 2] * 1e3, useful / ts[0] / 1e9);
  return 0;
}
