// Options for loading a model.
#pragma once

namespace sparse_rt {

struct LoadOptions {
  // OpenMP threads one inference uses. 0 (the default) means the process-wide setting at run
  // time (sparse_rt::get_num_threads(): SPARSE_RT_NUM_THREADS, set_num_threads(), or the
  // number of physical cores). Must be >= 0.
  int num_threads = 0;
};

}  // namespace sparse_rt
