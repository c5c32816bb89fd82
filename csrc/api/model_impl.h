// Model::Impl: the plan behind a public Model (shared by api/model.cc and api/session.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "graph/plan.h"
#include "sparse_rt/model.h"

namespace sparse_rt {

struct Model::Impl {
  std::string path;
  std::unique_ptr<graph::Plan> plan;
  std::vector<ValueSpec> inputs, outputs;
  int num_threads = 0;  // 0: the process setting at run time
  std::string isa;      // the ISA path kernels were chosen for
  double load_ms = 0;
};

}  // namespace sparse_rt
