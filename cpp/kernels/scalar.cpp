// Scalar reference kernels: plain loops in the order a reader expects, kept
// simple on purpose because every SIMD kernel is tested against them.
#include "kernels/kernels.hpp"

namespace pyanimf::kernels {
namespace {

float dot_scalar(const float* a, const float* b, std::size_t n) {
    float sum = 0.0f;
    for (std::size_t k = 0; k < n; ++k) sum += a[k] * b[k];
    return sum;
}

void update_scalar(float* p, float* q, std::size_t n, float g, float lr, float reg) {
    const float keep = 1.0f - lr * reg;
    const float step = lr * g;
    for (std::size_t k = 0; k < n; ++k) {
        const float p_old = p[k];
        const float q_old = q[k];
        p[k] = keep * p_old + step * q_old;
        q[k] = keep * q_old + step * p_old;
    }
}

struct ScalarOps {
    // The reference keeps the generic step for every stride.
    static constexpr bool kFixedSteps = false;
    static float dot(const float* a, const float* b, std::size_t n) { return dot_scalar(a, b, n); }
    static void update(float* p, float* q, std::size_t n, float g, float lr, float reg) {
        update_scalar(p, q, n, g, lr, reg);
    }
};

}  // namespace

const KernelSet& scalar_kernels() {
    static const KernelSet set{"scalar", dot_scalar, update_scalar, sgd_block<ScalarOps>};
    return set;
}

}  // namespace pyanimf::kernels
