// Thread count for sparse_rt's OpenMP loops, and a balanced range split.
#pragma once

#include <cstdint>
#include <string>

namespace sparse_rt::base {

// SPARSE_RT_NUM_THREADS on first use (a bad value throws InvalidArgument), else physical cores.
int num_threads();
void set_num_threads(int n);  // n >= 1
int physical_cores();
std::string openmp_description();

// Half-open sub-range [begin, end) of [0, total) for part `part` of `parts`, as even as possible.
inline void split_range(int64_t total, int parts, int part, int64_t* begin, int64_t* end) {
  int64_t base = total / parts, extra = total % parts;
  *begin = part * base + (part < extra ? part : extra);
  *end = *begin + base + (part < extra ? 1 : 0);
}

}  // namespace sparse_rt::base
