// The dense BLAS (OpenBLAS: the scipy-openblas32 wheel or the system library), always called
// single-threaded: sparse_rt parallelises around it with OpenMP.
#pragma once

#include <cstdint>
#include <string>

namespace sparse_rt::base {

// Row-major C[m x n] = alpha * op(A)[m x k] * op(B)[k x n] + beta * C.
void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
           const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
           int64_t ldc);

std::string blas_description();
int blas_threads();

}  // namespace sparse_rt::base
