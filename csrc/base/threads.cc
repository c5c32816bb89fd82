#include "base/threads.h"

#include <omp.h>
#include <sched.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "sparse_rt/status.h"

namespace sparse_rt::base {
namespace {

std::atomic<int> g_threads{0};  // 0: not decided yet

int read_int_file(const std::string& path) {
  std::ifstream f(path);
  int v = -1;
  if (f) f >> v;
  return v;
}

}  // namespace

int physical_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) != 0) {
    unsigned hc = std::thread::hardware_concurrency();
    return hc ? static_cast<int>(hc) : 1;
  }
  std::set<std::pair<int, int>> cores;  // (package, core) pairs among the CPUs we may use
  int cpus = 0;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (!CPU_ISSET(cpu, &set)) continue;
    ++cpus;
    std::string base = "/sys/devices/system/cpu/cpu" + std::to_string(cpu) + "/topology/";
    int pkg = read_int_file(base + "physical_package_id");
    int core = read_int_file(base + "core_id");
    cores.insert(core < 0 ? std::make_pair(-1, cpu) : std::make_pair(pkg, core));
  }
  int n = static_cast<int>(cores.size());
  return n > 0 ? n : (cpus > 0 ? cpus : 1);
}

int num_threads() {
  int n = g_threads.load(std::memory_order_acquire);
  if (n > 0) return n;
  if (const char* env = std::getenv("SPARSE_RT_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (*end != '\0' || v < 1 || v > 4096)
      throw InvalidArgument(std::string("SPARSE_RT_NUM_THREADS='") + env +
                            "' must be an integer from 1 to 4096");
    n = static_cast<int>(v);
  } else {
    n = physical_cores();
  }
  g_threads.store(n, std::memory_order_release);
  return n;
}

void set_num_threads(int n) {
  if (n < 1 || n > 4096)
    throw InvalidArgument("num_threads must be from 1 to 4096, got " + std::to_string(n));
  g_threads.store(n, std::memory_order_release);
}

std::string openmp_description() {
  return "libgomp, OpenMP " + std::to_string(_OPENMP);
}

}  // namespace sparse_rt::base
