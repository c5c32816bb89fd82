// Umbrella header: everything a C++ application needs.
#pragma once

#include "sparse_rt/ops.h"
#include "sparse_rt/runtime.h"
#include "sparse_rt/sparse_matrix.h"
#include "sparse_rt/status.h"
