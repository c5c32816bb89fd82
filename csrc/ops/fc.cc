#include "ops/fc.h"

#include <omp.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "base/isa.h"
#include "base/threads.h"
#include "sparse_rt/status.h"

namespace sparse_rt::ops {
namespace {

constexpr int64_t kTileRows = 64;          // rows per kernel call in the batched path
constexpr int64_t kMinWorkPerThread = 1 << 17;  // multiply-adds (~30 us) below which a thread does not pay for its fork

void check_bias(const std::vector<float>& bias, int64_t rows, const char* who) {
  if (!bias.empty() && static_cast<int64_t>(bias.size()) != rows)
    throw InvalidArgument(std::string(who) + ": bias has " + std::to_string(bias.size()) +
                          " values, expected " + std::to_string(rows) + " (one per output)");
}

// First unit (row or block row) of part t of `parts`, weighting unit u by
// (indptr[u+1] - indptr[u]) * per_entry + 1, so every thread gets about the same work.
int64_t balanced_unit(const int32_t* indptr, int64_t units, int64_t per_entry, int parts, int t) {
  auto cost = [&](int64_t u) { return int64_t{indptr[u]} * per_entry + u; };
  const int64_t target = cost(units) * t / parts;
  int64_t lo = 0, hi = units;
  while (lo < hi) {
    const int64_t mid = (lo + hi) / 2;
    if (cost(mid) < target) lo = mid + 1; else hi = mid;
  }
  return lo;
}

int threads_for(int threads, int64_t units, int64_t work) {
  const int64_t by_work = std::max<int64_t>(1, work / kMinWorkPerThread);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({threads, units, by_work})));
}

// Per-thread growable scratch (OpenMP worker threads persist, so it is allocated once), in
// 2 MiB-aligned memory marked for transparent huge pages: the batched kernels read rows of the
// transposed x in no useful order, and with 4 KiB pages nearly every access missed the L1 TLB.
class Scratch {
 public:
  ~Scratch() { std::free(p_); }
  float* get(int64_t floats) {
    const size_t bytes = static_cast<size_t>(std::max<int64_t>(floats, 1)) * sizeof(float);
    if (bytes > cap_) {
      constexpr size_t kHuge = size_t{2} << 20;
      const size_t cap = (bytes + kHuge - 1) / kHuge * kHuge;
      void* p = std::aligned_alloc(kHuge, cap);
      if (!p) throw Error("out of memory allocating " + std::to_string(cap) + " bytes of scratch");
      madvise(p, cap, MADV_HUGEPAGE);  // a hint: failure only costs speed
      std::free(p_);
      p_ = static_cast<float*>(p);
      cap_ = cap;
    }
    return p_;
  }

 private:
  float* p_ = nullptr;
  size_t cap_ = 0;
};

// The batched path shared by CSR and BSR. unit_rows: rows of W per unit (1 or the block
// height); run(u0, u1, xt, j0, nj, tile) computes units [u0, u1) for batch columns [j0, j0+nj)
// into tile ((u1-u0)*unit_rows x nj). Threads split the units (balanced by stored values) when
// there are enough of them, else the batch columns (multiples of 16).
template <typename Run>
void batched_linear(base::Isa isa, const float* x, int64_t n, int64_t k, int64_t m, float* y,
                    int parts, const int32_t* indptr, int64_t units, int64_t unit_rows,
                    int64_t per_entry, Run run) {
  thread_local Scratch xt_buf;
  float* xt = xt_buf.get(k * n);
  const int64_t tile_units = std::max<int64_t>(1, kTileRows / unit_rows);
  const kernels::F32TransposeFn transpose = dispatch::select_transpose(isa).fn;
  const bool split_batch = units < 4 * parts && n >= 32 * parts;
#pragma omp parallel num_threads(parts)
  {
    const int t = omp_get_thread_num();
    // 1. x (n x K) -> xt (K x n), columns of x split between threads in multiples of 8.
    int64_t c0, c1;
    base::split_range((k + 7) / 8, parts, t, &c0, &c1);
    c0 = std::min(k, c0 * 8);
    c1 = std::min(k, c1 * 8);
    if (c1 > c0) transpose(n, c1 - c0, x + c0, k, xt + c0 * n, n);
#pragma omp barrier
    // 2. this thread's units and batch columns; chunks of units computed into a tile, then
    //    transposed into y while the tile is in L1.
    int64_t u0 = 0, u1 = units, j0 = 0, j1 = n;
    if (split_batch) {
      base::split_range((n + 15) / 16, parts, t, &j0, &j1);
      j0 = std::min(n, j0 * 16);
      j1 = std::min(n, j1 * 16);
    } else {
      u0 = balanced_unit(indptr, units, per_entry, parts, t);
      u1 = balanced_unit(indptr, units, per_entry, parts, t + 1);
    }
    const int64_t nj = j1 - j0;
    thread_local Scratch tile_buf;
    float* tile = tile_buf.get(tile_units * unit_rows * std::max<int64_t>(nj, 1));
    for (int64_t ub = u0; nj > 0 && ub < u1; ub += tile_units) {
      const int64_t ue = std::min(u1, ub + tile_units);
      run(ub, ue, xt, j0, nj, tile);
      const int64_t r0 = ub * unit_rows, nr = (ue - ub) * unit_rows;
      transpose(nr, nj, tile, nj, y + j0 * m + r0, m);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------

CsrLinear::CsrLinear(const CsrMatrix& w, std::vector<float> bias, Activation act)
    : bias_(std::move(bias)), clamp_(clamp_for(act)), isa_(base::active_isa()) {
  w.validate();
  check_bias(bias_, w.rows, "CsrLinear");
  kernels::pack_csrmv(w, &mv_);
  mv_kernel_ = &dispatch::select_csrmv(isa_, mv_.index_bits);
}

const char* CsrLinear::kernel_name(int64_t n) const {
  return n == 1 ? mv_kernel_->name : dispatch::select_csrmm(isa_, n).name;
}

void CsrLinear::linear(const float* x, int64_t n, float* y, int threads) const {
  if (n < 0) throw InvalidArgument("CsrLinear: negative batch size");
  const int64_t m = mv_.rows, k = mv_.cols;
  if (n == 0 || m == 0) return;
  if ((!x && k > 0) || !y) throw InvalidArgument("CsrLinear: x and y must not be null");
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  // units that can go to threads: rows, or 32-column slices of a wide batch (see batched_linear)
  const int parts = threads_for(threads, std::max(m, n / 32), (nnz() + m) * n);
  const void* idx = mv_.index_bits == 16 ? static_cast<const void*>(mv_.idx16.data())
                                         : static_cast<const void*>(mv_.idx32.data());
  if (n == 1) {
    auto run = [&](int t) {
      const int64_t r0 = balanced_unit(mv_.indptr.data(), m, 1, parts, t);
      const int64_t r1 = balanced_unit(mv_.indptr.data(), m, 1, parts, t + 1);
      if (r1 > r0)
        mv_kernel_->fn(r1 - r0, mv_.indptr.data() + r0, idx, mv_.values.data(), x,
                       bias ? bias + r0 : nullptr, y + r0, clamp_.lo, clamp_.hi);
    };
    if (parts == 1) {
      run(0);
    } else {
#pragma omp parallel num_threads(parts)
      run(omp_get_thread_num());
    }
    return;
  }
  const dispatch::CsrmmKernel& kern = dispatch::select_csrmm(isa_, n);
  batched_linear(isa_, x, n, k, m, y, parts, mv_.indptr.data(), m, 1, 1,
                 [&](int64_t r0, int64_t r1, const float* xt, int64_t j0, int64_t nj, float* tile) {
                   kern.fn(r1 - r0, nj, mv_.indptr.data() + r0, idx, mv_.index_bits,
                           mv_.values.data(), xt + j0, n, bias ? bias + r0 : nullptr, tile, nj,
                           clamp_.lo, clamp_.hi);
                 });
}

// ---------------------------------------------------------------------------------------------

BsrLinear::BsrLinear(const BsrMatrix& w, std::vector<float> bias, Activation act)
    : bias_(std::move(bias)), clamp_(clamp_for(act)), isa_(base::active_isa()) {
  w.validate();
  check_bias(bias_, w.rows, "BsrLinear");
  dispatch::select_bsrmm(isa_, w.block_rows, w.block_cols, 1);  // throws for a shape without kernels
  w_ = kernels::sort_bsr_rows(w);
}

const char* BsrLinear::kernel_name(int64_t n) const {
  return dispatch::select_bsrmm(isa_, w_.block_rows, w_.block_cols, std::max<int64_t>(n, 1)).name;
}

void BsrLinear::linear(const float* x, int64_t n, float* y, int threads) const {
  if (n < 0) throw InvalidArgument("BsrLinear: negative batch size");
  const int64_t m = w_.rows, k = w_.cols, r = w_.block_rows;
  const int64_t mb = m / r, bsize = r * w_.block_cols;
  if (n == 0 || m == 0) return;
  if ((!x && k > 0) || !y) throw InvalidArgument("BsrLinear: x and y must not be null");
  const float* bias = bias_.empty() ? nullptr : bias_.data();
  const dispatch::BsrmmKernel& kern = dispatch::select_bsrmm(isa_, w_.block_rows, w_.block_cols, n);
  const int parts = threads_for(threads, std::max(mb, n / 32), (w_.num_blocks() * bsize + m) * n);
  if (n == 1) {
    auto run = [&](int t) {
      const int64_t b0 = balanced_unit(w_.indptr.data(), mb, bsize, parts, t);
      const int64_t b1 = balanced_unit(w_.indptr.data(), mb, bsize, parts, t + 1);
      if (b1 > b0)
        kern.fn(b1 - b0, 1, w_.indptr.data() + b0, w_.indices.data(), w_.data.data(), x, 1,
                bias ? bias + b0 * r : nullptr, y + b0 * r, 1, clamp_.lo, clamp_.hi);
    };
    if (parts == 1) {
      run(0);
    } else {
#pragma omp parallel num_threads(parts)
      run(omp_get_thread_num());
    }
    return;
  }
  batched_linear(isa_, x, n, k, m, y, parts, w_.indptr.data(), mb, r, bsize,
                 [&](int64_t b0, int64_t b1, const float* xt, int64_t j0, int64_t nj, float* tile) {
                   kern.fn(b1 - b0, nj, w_.indptr.data() + b0, w_.indices.data(), w_.data.data(),
                           xt + j0, n, bias ? bias + b0 * r : nullptr, tile, nj, clamp_.lo,
                           clamp_.hi);
                 });
}

}  // namespace sparse_rt::ops
