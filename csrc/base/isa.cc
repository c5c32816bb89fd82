#include "base/isa.h"

#include <cpuid.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "sparse_rt/status.h"

namespace sparse_rt::base {
namespace {

constexpr Isa kAll[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

std::atomic<int> g_cap{-1};  // -1: not read yet
std::mutex g_cap_mutex;

Isa best_usable() {
  Isa best = Isa::kScalar;
  for (Isa isa : kAll)
    if (isa_usable(isa)) best = isa;
  return best;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

Isa parse_isa(const std::string& name, const char* what) {
  for (Isa isa : kAll)
    if (name == isa_name(isa)) return isa;
  throw InvalidArgument(std::string(what) + "='" + name +
                        "' is not an ISA path; allowed values: scalar, avx2, avx512");
}

bool isa_built(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return true;
#ifdef SPARSE_RT_BUILT_AVX2
    case Isa::kAvx2: return true;
#endif
#ifdef SPARSE_RT_BUILT_AVX512
    case Isa::kAvx512: return true;
#endif
    default: return false;
  }
}

bool cpu_supports(Isa isa) {
  // __builtin_cpu_supports also checks that the OS saves the wider registers (XCR0).
  __builtin_cpu_init();
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::kAvx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
             cpu_supports(Isa::kAvx2);
  }
  return false;
}

std::vector<Isa> built_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAll)
    if (isa_built(isa)) out.push_back(isa);
  return out;
}

std::vector<Isa> usable_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAll)
    if (isa_usable(isa)) out.push_back(isa);
  return out;
}

Isa active_isa() {
  int cap = g_cap.load(std::memory_order_acquire);
  if (cap < 0) {
    std::lock_guard<std::mutex> lock(g_cap_mutex);
    cap = g_cap.load(std::memory_order_relaxed);
    if (cap < 0) {
      Isa chosen = best_usable();
      if (const char* env = std::getenv("SPARSE_RT_ISA"); env && *env) {
        Isa wanted = parse_isa(env, "SPARSE_RT_ISA");  // throws on a bad value
        if (static_cast<int>(wanted) < static_cast<int>(chosen)) chosen = wanted;
      }
      cap = static_cast<int>(chosen);
      g_cap.store(cap, std::memory_order_release);
    }
  }
  return static_cast<Isa>(cap);
}

void set_active_isa_cap(Isa cap) {
  if (!isa_usable(cap)) {
    std::string usable;
    for (Isa isa : usable_isas()) usable += std::string(usable.empty() ? "" : ", ") + isa_name(isa);
    throw InvalidArgument(std::string("ISA path '") + isa_name(cap) +
                          "' is not usable here (built and supported: " + usable + ")");
  }
  g_cap.store(static_cast<int>(cap), std::memory_order_release);
}

std::string cpu_brand() {
  unsigned int regs[12] = {};
  unsigned int max_ext = __get_cpuid_max(0x80000000u, nullptr);
  if (max_ext < 0x80000004u) return "unknown x86-64";
  for (unsigned int i = 0; i < 3; ++i)
    __get_cpuid(0x80000002u + i, &regs[4 * i], &regs[4 * i + 1], &regs[4 * i + 2], &regs[4 * i + 3]);
  char brand[49] = {};
  std::memcpy(brand, regs, 48);
  std::string s(brand);
  size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "unknown x86-64" : s.substr(b, e - b + 1);
}

}  // namespace sparse_rt::base
