// Instruction-set paths and CPU feature detection. Detection runs once; the active path is the
// best one that is built AND supported, capped by SPARSE_RT_ISA or set_active_isa_cap().
#pragma once

#include <string>
#include <vector>

namespace sparse_rt::base {

enum class Isa { kScalar = 0, kAvx2 = 1, kAvx512 = 2 };

const char* isa_name(Isa isa);
// Throws InvalidArgument listing the allowed names.
Isa parse_isa(const std::string& name, const char* what);

bool isa_built(Isa isa);
bool cpu_supports(Isa isa);
inline bool isa_usable(Isa isa) { return isa_built(isa) && cpu_supports(isa); }

std::vector<Isa> built_isas();
std::vector<Isa> usable_isas();  // ascending

// The path kernels are chosen for now. The first call reads SPARSE_RT_ISA.
Isa active_isa();
// Throws InvalidArgument if `cap` is not usable on this machine.
void set_active_isa_cap(Isa cap);

std::string cpu_brand();

}  // namespace sparse_rt::base
