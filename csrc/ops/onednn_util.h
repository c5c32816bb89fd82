// Shared by the oneDNN-backed ops (conv_onednn.cc, linear_onednn.cc); include only when
// SPARSE_RT_HAVE_ONEDNN is defined.
#pragma once

#include <omp.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "oneapi/dnnl/dnnl.hpp"

namespace sparse_rt::ops::onednn {

inline const dnnl::engine& cpu_engine() {
  static const dnnl::engine eng(dnnl::engine::kind::cpu, 0);
  return eng;
}

// oneDNN takes its parallel width from omp_get_max_threads() (when a primitive is created and
// when it runs), so an op sets the calling thread's ICV to its thread count for the scope of a
// call and restores it on the way out, exceptions included.
class ThreadCountScope {
 public:
  explicit ThreadCountScope(int threads) : saved_(omp_get_max_threads()) {
    omp_set_num_threads(threads);
  }
  ~ThreadCountScope() { omp_set_num_threads(saved_); }
  ThreadCountScope(const ThreadCountScope&) = delete;
  ThreadCountScope& operator=(const ThreadCountScope&) = delete;

 private:
  int saved_;
};

// Primitives are created with a user-managed scratchpad: oneDNN's own (library mode) is shared
// by every execution of a primitive, so two threads running the same layer at once (two
// sessions, or the batch lanes of one) would overwrite each other's temporaries. Each calling
// thread passes its own buffer instead.
inline dnnl::primitive_attr attr_with_user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

// This thread's scratchpad for a primitive whose scratchpad is described by `md`.
inline dnnl::memory scratchpad(const dnnl::memory::desc& md) {
  thread_local std::vector<unsigned char> buf;
  const size_t bytes = md.get_size();
  if (buf.size() < bytes + 64) buf.resize(bytes + 64);
  unsigned char* p = buf.data();
  p += (64 - reinterpret_cast<uintptr_t>(p) % 64) % 64;
  return dnnl::memory(md, cpu_engine(), p);
}

}  // namespace sparse_rt::ops::onednn
