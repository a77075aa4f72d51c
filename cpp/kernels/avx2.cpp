// AVX2 + FMA kernels. Compiled with -mavx2 -mfma for this file only; called
// only after dispatch.cpp has checked that the CPU supports both.
#include <immintrin.h>

#include "kernels/kernels.hpp"

namespace pyanimf::kernels {
namespace {

float horizontal_sum(__m256 v) {
    __m128 low = _mm256_castps256_ps128(v);
    __m128 high = _mm256_extractf128_ps(v, 1);
    __m128 sum = _mm_add_ps(low, high);
    sum = _mm_add_ps(sum, _mm_movehl_ps(sum, sum));
    sum = _mm_add_ss(sum, _mm_movehdup_ps(sum));
    return _mm_cvtss_f32(sum);
}

// Four independent accumulators hide the FMA latency; one chain would stall
// on each add.
float dot_avx2(const float* a, const float* b, std::size_t n) {
    __m256 acc0 = _mm256_setzero_ps();
    __m256 acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps();
    __m256 acc3 = _mm256_setzero_ps();
    std::size_t k = 0;
    for (; k + 32 <= n; k += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 8), _mm256_loadu_ps(b + k + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 16), _mm256_loadu_ps(b + k + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k + 24), _mm256_loadu_ps(b + k + 24), acc3);
    }
    for (; k + 8 <= n; k += 8) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + k), _mm256_loadu_ps(b + k), acc0);
    }
    float sum = horizontal_sum(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; k < n; ++k) sum += a[k] * b[k];
    return sum;
}

void update_avx2(float* p, float* q, std::size_t n, float g, float lr, float reg) {
    const float keep_s = 1.0f - lr * reg;
    const float step_s = lr * g;
    const __m256 keep = _mm256_set1_ps(keep_s);
    const __m256 step = _mm256_set1_ps(step_s);
    std::size_t k = 0;
    for (; k + 8 <= n; k += 8) {
        const __m256 p_old = _mm256_loadu_ps(p + k);
        const __m256 q_old = _mm256_loadu_ps(q + k);
        _mm256_storeu_ps(p + k, _mm256_fmadd_ps(step, q_old, _mm256_mul_ps(keep, p_old)));
        _mm256_storeu_ps(q + k, _mm256_fmadd_ps(step, p_old, _mm256_mul_ps(keep, q_old)));
    }
    for (; k < n; ++k) {
        const float p_old = p[k];
        const float q_old = q[k];
        p[k] = keep_s * p_old + step_s * q_old;
        q[k] = keep_s * q_old + step_s * p_old;
    }
}

// The operations of fixed_step.hpp, matching dot_avx2 and update_avx2.
struct Avx2Vectors {
    using Vec = __m256;
    static constexpr std::size_t kWidth = 8;
    // Two rows of 4 vectors take 8 of the 16 ymm registers.
    static constexpr std::size_t kMaxFixedStride = 32;
    static Vec load(const float* x) { return _mm256_loadu_ps(x); }
    static void store(float* x, Vec v) { _mm256_storeu_ps(x, v); }
    static Vec zero() { return _mm256_setzero_ps(); }
    static Vec broadcast(float x) { return _mm256_set1_ps(x); }
    static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
    static Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
    static Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
    static float sum(Vec v) { return horizontal_sum(v); }
};

struct Avx2Ops {
    static constexpr bool kFixedSteps = true;
    using Vectors = Avx2Vectors;
    static float dot(const float* a, const float* b, std::size_t n) { return dot_avx2(a, b, n); }
    static void update(float* p, float* q, std::size_t n, float g, float lr, float reg) {
        update_avx2(p, q, n, g, lr, reg);
    }
};

}  // namespace

const KernelSet& avx2_kernels() {
    static const KernelSet set{"avx2", dot_avx2, update_avx2, sgd_block<Avx2Ops>};
    return set;
}

}  // namespace pyanimf::kernels
