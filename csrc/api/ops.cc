#include "sparse_rt/ops.h"

#include "base/threads.h"
#include "ops/linear.h"
#include "sparse_rt/status.h"

namespace sparse_rt {

std::string spmm(const CsrMatrix& w, const float* x, int64_t n, float* y, const float* bias,
                 Activation act) {
  if (n < 0) throw InvalidArgument("spmm: n must be >= 0, got " + std::to_string(n));
  if ((!x && w.cols * n > 0) || (!y && w.rows * n > 0))
    throw InvalidArgument("spmm: x and y must not be null");
  std::vector<float> b;
  if (bias) b.assign(bias, bias + w.rows);
  ops::CsrMatmul op(w, std::move(b), act);
  op.matmul(x, n, y, base::num_threads());
  return op.kernel_name();
}

}  // namespace sparse_rt
