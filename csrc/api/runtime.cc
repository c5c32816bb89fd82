#include "sparse_rt/runtime.h"

#include "base/blas.h"
#include "base/isa.h"
#include "base/threads.h"

namespace sparse_rt {

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.version = SPARSE_RT_VERSION;
  info.isa = base::isa_name(base::active_isa());
  for (base::Isa isa : base::usable_isas()) info.isa_available.push_back(base::isa_name(isa));
  for (base::Isa isa : base::built_isas()) info.isa_built.push_back(base::isa_name(isa));
  info.num_threads = base::num_threads();
  info.openmp = base::openmp_description();
  info.blas = base::blas_description();
  info.blas_threads = base::blas_threads();
  info.cpu = base::cpu_brand();
  return info;
}

void set_isa(const std::string& isa) {
  base::set_active_isa_cap(base::parse_isa(isa, "isa"));
}

std::string current_isa() { return base::isa_name(base::active_isa()); }

void set_num_threads(int n) { base::set_num_threads(n); }

int get_num_threads() { return base::num_threads(); }

}  // namespace sparse_rt
