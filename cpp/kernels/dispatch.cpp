// Run-time choice of the kernel set from the CPU's features.
#include <stdexcept>

#include "kernels/kernels.hpp"

namespace pyanimf::kernels {
namespace {

#ifdef PYANIMF_HAVE_X86_KERNELS
bool cpu_has_avx2() {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

bool cpu_has_avx512() {
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
}
#endif

}  // namespace

std::vector<std::string> available_kernels() {
    std::vector<std::string> names;
#ifdef PYANIMF_HAVE_X86_KERNELS
    if (cpu_has_avx512()) names.emplace_back("avx512");
    if (cpu_has_avx2()) names.emplace_back("avx2");
#endif
    names.emplace_back("scalar");
    return names;
}

const KernelSet& select_kernels(const std::string& name) {
    const std::string chosen = (name == "auto") ? available_kernels().front() : name;
    if (chosen == "scalar") return scalar_kernels();
#ifdef PYANIMF_HAVE_X86_KERNELS
    if (chosen == "avx2" && cpu_has_avx2()) return avx2_kernels();
    if (chosen == "avx512" && cpu_has_avx512()) return avx512_kernels();
#endif
    std::string valid = "auto";
    for (const auto& available : available_kernels()) valid += ", " + available;
    throw std::invalid_argument("kernel: expected one of " + valid + ", got '" + name + "'");
}

}  // namespace pyanimf::kernels
