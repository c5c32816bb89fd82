#include "base/blas.h"

#include <cblas.h>

#include <climits>
#include <mutex>

#include "sparse_rt/status.h"

#if defined(SPARSE_RT_BLAS_SCIPY_OPENBLAS)
#define SPARSE_RT_CBLAS(name) scipy_cblas_##name
#define SPARSE_RT_OPENBLAS(name) scipy_openblas_##name
#define SPARSE_RT_BLAS_ORIGIN "scipy-openblas32 wheel"
#else
#define SPARSE_RT_CBLAS(name) cblas_##name
#define SPARSE_RT_OPENBLAS(name) openblas_##name
#define SPARSE_RT_BLAS_ORIGIN "system"
#endif

namespace sparse_rt::base {
namespace {

// A threaded BLAS called from inside OpenMP regions oversubscribes the cores (15-30x slower
// measured here), so the library is pinned to one thread before its first use.
void ensure_single_threaded() {
  static std::once_flag once;
  std::call_once(once, [] { SPARSE_RT_OPENBLAS(set_num_threads)(1); });
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc) {
  if (m > INT_MAX || n > INT_MAX || k > INT_MAX || lda > INT_MAX || ldb > INT_MAX || ldc > INT_MAX)
    throw InvalidArgument("sgemm: dimensions exceed the 32-bit BLAS interface");
  if (m == 0 || n == 0) return;
  ensure_single_threaded();
  SPARSE_RT_CBLAS(sgemm)(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                         trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m),
                         static_cast<int>(n), static_cast<int>(k), alpha, a, static_cast<int>(lda),
                         b, static_cast<int>(ldb), beta, c, static_cast<int>(ldc));
}

std::string blas_description() {
  ensure_single_threaded();
  std::string config = SPARSE_RT_OPENBLAS(get_config)();
  return "OpenBLAS (" SPARSE_RT_BLAS_ORIGIN "): " + config;
}

int blas_threads() {
  ensure_single_threaded();
  return SPARSE_RT_OPENBLAS(get_num_threads)();
}

}  // namespace sparse_rt::base
