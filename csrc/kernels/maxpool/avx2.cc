// AVX2 max pooling: the separable loop (separable.h) compiled with this file's flags.
#include "kernels/maxpool/separable.h"

namespace sparse_rt::kernels::avx2 {

void f32_maxpool__avx2(SPARSE_RT_F32_MAXPOOL_PARAMS) { maxpool_separable(g, x, y, row); }

}  // namespace sparse_rt::kernels::avx2
