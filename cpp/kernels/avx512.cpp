// AVX-512 kernels (F, DQ, BW, VL). Compiled with those flags for this file
// only; called only after dispatch.cpp has checked the CPU supports them.
#include <immintrin.h>

#include "kernels/kernels.hpp"

namespace pyanimf::kernels {
namespace {

__mmask16 tail_mask(std::size_t remaining) {
    return static_cast<__mmask16>((1u << remaining) - 1u);
}

// Four independent accumulators hide the FMA latency; the tail is a masked
// load, so no scalar loop is needed.
float dot_avx512(const float* a, const float* b, std::size_t n) {
    __m512 acc0 = _mm512_setzero_ps();
    __m512 acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps();
    __m512 acc3 = _mm512_setzero_ps();
    std::size_t k = 0;
    for (; k + 64 <= n; k += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 16), _mm512_loadu_ps(b + k + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 32), _mm512_loadu_ps(b + k + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k + 48), _mm512_loadu_ps(b + k + 48), acc3);
    }
    for (; k + 16 <= n; k += 16) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + k), _mm512_loadu_ps(b + k), acc0);
    }
    if (k < n) {
        const __mmask16 mask = tail_mask(n - k);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + k), _mm512_maskz_loadu_ps(mask, b + k), acc1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

void update_avx512(float* p, float* q, std::size_t n, float g, float lr, float reg) {
    const __m512 keep = _mm512_set1_ps(1.0f - lr * reg);
    const __m512 step = _mm512_set1_ps(lr * g);
    std::size_t k = 0;
    for (; k + 16 <= n; k += 16) {
        const __m512 p_old = _mm512_loadu_ps(p + k);
        const __m512 q_old = _mm512_loadu_ps(q + k);
        _mm512_storeu_ps(p + k, _mm512_fmadd_ps(step, q_old, _mm512_mul_ps(keep, p_old)));
        _mm512_storeu_ps(q + k, _mm512_fmadd_ps(step, p_old, _mm512_mul_ps(keep, q_old)));
    }
    if (k < n) {
        const __mmask16 mask = tail_mask(n - k);
        const __m512 p_old = _mm512_maskz_loadu_ps(mask, p + k);
        const __m512 q_old = _mm512_maskz_loadu_ps(mask, q + k);
        _mm512_mask_storeu_ps(p + k, mask, _mm512_fmadd_ps(step, q_old, _mm512_mul_ps(keep, p_old)));
        _mm512_mask_storeu_ps(q + k, mask, _mm512_fmadd_ps(step, p_old, _mm512_mul_ps(keep, q_old)));
    }
}

// The operations of fixed_step.hpp, matching dot_avx512 and update_avx512.
struct Avx512Vectors {
    using Vec = __m512;
    static constexpr std::size_t kWidth = 16;
    // Two rows of 8 vectors take 16 of the 32 zmm registers.
    static constexpr std::size_t kMaxFixedStride = 128;
    static Vec load(const float* x) { return _mm512_loadu_ps(x); }
    static void store(float* x, Vec v) { _mm512_storeu_ps(x, v); }
    static Vec zero() { return _mm512_setzero_ps(); }
    static Vec broadcast(float x) { return _mm512_set1_ps(x); }
    static Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
    static Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
    static Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
    static float sum(Vec v) { return _mm512_reduce_add_ps(v); }
};

struct Avx512Ops {
    static constexpr bool kFixedSteps = true;
    using Vectors = Avx512Vectors;
    static float dot(const float* a, const float* b, std::size_t n) { return dot_avx512(a, b, n); }
    static void update(float* p, float* q, std::size_t n, float g, float lr, float reg) {
        update_avx512(p, q, n, g, lr, reg);
    }
};

}  // namespace

const KernelSet& avx512_kernels() {
    static const KernelSet set{"avx512", dot_avx512, update_avx512, sgd_block<Avx512Ops>};
    return set;
}

}  // namespace pyanimf::kernels
