// Scalar max pooling: the separable loop (separable.h) on the baseline x86-64 ISA.
#include "kernels/maxpool/separable.h"

namespace sparse_rt::kernels::scalar {

void f32_maxpool__reference(SPARSE_RT_F32_MAXPOOL_PARAMS) { maxpool_separable(g, x, y, row); }

}  // namespace sparse_rt::kernels::scalar
