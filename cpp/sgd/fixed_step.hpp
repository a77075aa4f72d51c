// The SGD step of one rating for a row stride known at compile time.
//
// The generic step (block_loop.hpp) calls the kernel's dot product and
// update with a run-time length. GCC 12 keeps the dot product an out-of-line
// call there, and both loops carry a counter. The update also reloads both
// rows, because the compiler cannot rule out that the bias stores in
// between alias them. Here both rows are loaded into registers once, the loops
// unroll completely, and the update works on the loaded values.
//
// The vector arithmetic is the generic dot product's and update's, operation
// for operation (same accumulators, same order). On the 6.3 M synthetic
// ratings it gave bit-identical models at strides 32, 64 and 128 (GCC 12).
// NOTE: at stride 256 it did not (differences of 1e-8 after one epoch, cause
// not found), and it ran no faster, so 256 is not specialised.
#pragma once

#include <cstddef>

namespace pyanimf {
namespace {

// Vec provides the vector type and its operations for one instruction set:
//   using Vec, and kWidth, the floats per vector.
//   load, store, zero, broadcast, add, mul, and fmadd(a, b, c) = a * b + c.
//   sum(v), the horizontal sum that the kernel's dot product uses.
//   kMaxFixedStride, the largest stride whose two rows fit in the
//   instruction set's registers. Beyond it the rows spill to the stack, and
//   the step measured slower than the generic one (AVX2 at stride 64).
template <typename Vec, std::size_t kStride, typename GradientFn>
inline void fixed_step(float* p, float* q, float lr, float reg, GradientFn gradient) {
    static_assert(kStride % Vec::kWidth == 0, "the stride must be a whole number of vectors");
    static_assert(kStride <= Vec::kMaxFixedStride, "both rows must fit in the registers");
    constexpr std::size_t kVectors = kStride / Vec::kWidth;
    // The generic dot product runs four accumulators over groups of four
    // vectors and adds any vectors left over to the first one.
    constexpr std::size_t kGrouped = kVectors - kVectors % 4;

    typename Vec::Vec p_old[kVectors];
    typename Vec::Vec q_old[kVectors];
    typename Vec::Vec acc[4] = {Vec::zero(), Vec::zero(), Vec::zero(), Vec::zero()};
    for (std::size_t j = 0; j < kVectors; ++j) {
        p_old[j] = Vec::load(p + j * Vec::kWidth);
        q_old[j] = Vec::load(q + j * Vec::kWidth);
        const std::size_t lane = j < kGrouped ? j % 4 : 0;
        acc[lane] = Vec::fmadd(p_old[j], q_old[j], acc[lane]);
    }
    const float dot = Vec::sum(Vec::add(Vec::add(acc[0], acc[1]), Vec::add(acc[2], acc[3])));

    const float scale = gradient(dot);
    const auto keep = Vec::broadcast(1.0f - lr * reg);
    const auto step = Vec::broadcast(lr * scale);
    for (std::size_t j = 0; j < kVectors; ++j) {
        Vec::store(p + j * Vec::kWidth, Vec::fmadd(step, q_old[j], Vec::mul(keep, p_old[j])));
        Vec::store(q + j * Vec::kWidth, Vec::fmadd(step, p_old[j], Vec::mul(keep, q_old[j])));
    }
}

}  // namespace
}  // namespace pyanimf
