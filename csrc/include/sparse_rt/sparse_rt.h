// Umbrella header: everything a C++ application needs.
#pragma once

#include "sparse_rt/model.h"
#include "sparse_rt/ops.h"
#include "sparse_rt/options.h"
#include "sparse_rt/runtime.h"
#include "sparse_rt/session.h"
#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"
#include "sparse_rt/tensor.h"
