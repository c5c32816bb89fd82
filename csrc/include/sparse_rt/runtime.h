// Process-wide runtime settings: the instruction-set path and the thread count.
//
// ISA: a path is usable when it was compiled into the library AND the CPU (and OS) support it.
// The best usable path is chosen once; the environment variable SPARSE_RT_ISA=scalar|avx2|avx512
// caps it (read on first use; any other value throws InvalidArgument), and set_isa() changes the
// cap at run time. Layers pick their kernel when they are created, so set_isa() affects layers
// created afterwards.
//
// Threads: SPARSE_RT_NUM_THREADS, or set_num_threads(n); the default is the number of physical
// cores available to the process. The dense BLAS always runs single-threaded inside sparse_rt's
// own OpenMP loops.
#pragma once

#include <string>
#include <vector>

namespace sparse_rt {

struct RuntimeInfo {
  std::string version;
  std::string isa;                         // path in use: "scalar", "avx2" or "avx512"
  std::vector<std::string> isa_available;  // built AND supported by this CPU, best last
  std::vector<std::string> isa_built;      // compiled into this library
  int num_threads = 1;
  std::string openmp;                      // e.g. "libgomp, OpenMP 201511"
  std::string blas;                        // e.g. "OpenBLAS 0.3.21 (system)"
  int blas_threads = 1;                    // threads the BLAS itself uses (always 1)
  std::string cpu;                         // CPU brand string
};

RuntimeInfo runtime_info();

// Caps the ISA path: "scalar", "avx2" or "avx512". Throws InvalidArgument for an unknown name
// or for a path that this library/CPU cannot run.
void set_isa(const std::string& isa);
std::string current_isa();

// n >= 1; throws InvalidArgument otherwise.
void set_num_threads(int n);
int get_num_threads();

}  // namespace sparse_rt
