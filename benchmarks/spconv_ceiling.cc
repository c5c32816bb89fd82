// The ceiling of the spconv kernels' inner loop, with everything in L1: one thread, 64 row
// groups of `entries` stored weights each, every entry reading `n` pixels of a 20 KB input at
// an offset that is 64-byte aligned or not. It shows what bounds the unstructured (MR = 1)
// kernels: one vector load per FMA, so the L1 load ports, and a load that straddles two cache
// lines costs a third access (docs/architecture-conv.md, "What bounds the CSR kernels").
// Built with the C++ tests (tests/cpp/CMakeLists.txt), e.g.
//
//   cmake -S . -B build/cpp -G Ninja -DSPARSE_RT_BUILD_TESTS=ON && cmake --build build/cpp
//   build/cpp/tests/cpp/spconv_ceiling [entries per row group (36)] [reps (100000)]
//
// Prints, per built kernel usable on this CPU and per offset pattern, the useful GFLOP/s.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <random>
#include <vector>

#include "base/isa.h"
#include "dispatch/registry.h"

using namespace sparse_rt;

int main(int argc, char** argv) {
  const int entries = argc > 1 ? std::atoi(argv[1]) : 36;
  const int reps = argc > 2 ? std::atoi(argv[2]) : 100000;
  const int groups = 64;
  const float inf = std::numeric_limits<float>::infinity();
  std::printf("entries/group %d, %d groups, 1 thread, L1-resident input\n", entries, groups);
  std::printf("%-28s %-12s %6s %10s\n", "kernel", "offsets", "pixels", "GFLOP/s");
  for (const auto& k : dispatch::spconv_kernels()) {
    if (!base::isa_usable(k.isa)) continue;
    const int64_t n = k.nr == 1 ? 64 : k.nr;  // one full register tile of pixels
    for (int pattern = 0; pattern < 3; ++pattern) {
      const char* label[] = {"aligned", "misaligned", "random"};
      std::mt19937 rng(1);
      std::vector<int32_t> indptr(groups + 1), offsets(static_cast<size_t>(groups) * entries);
      for (int g = 0; g <= groups; ++g) indptr[g] = g * entries;
      for (auto& o : offsets) {
        const int32_t line = static_cast<int32_t>(rng() % 64) * 16;  // 64 cache lines
        o = pattern == 0 ? line : pattern == 1 ? line + 1 + static_cast<int32_t>(rng() % 15)
                                               : static_cast<int32_t>(rng() % 1024);
      }
      std::vector<float> values(offsets.size() * k.mr, 0.01f);
      // x 64-byte aligned, so that "aligned" offsets (multiples of 16 floats) are.
      std::vector<float> xbuf(1024 + 1024 + 64 + 16, 1.0f), y(static_cast<size_t>(groups) * k.mr * n);
      float* const x0 = xbuf.data() + (64 - reinterpret_cast<uintptr_t>(xbuf.data()) % 64) % 64 / 4;
      auto run = [&] {
        k.fn(groups * k.mr, 0, n, indptr.data(), 1, 1, nullptr, offsets.data(), values.data(), x0,
             nullptr, nullptr, n, nullptr, y.data(), nullptr, n, n, n, -inf, inf, 1);
      };
      run();
      const auto t0 = std::chrono::steady_clock::now();
      for (int r = 0; r < reps; ++r) run();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double flops = 2.0 * groups * k.mr * entries * n * reps;
      std::printf("%-28s %-12s %6ld %10.1f\n", k.name, label[pattern], static_cast<long>(n),
                  flops / s / 1e9);
    }
  }
  return 0;
}
