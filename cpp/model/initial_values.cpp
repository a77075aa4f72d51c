#include "model/initial_values.hpp"

#include <algorithm>
#include <cstddef>

#include "common/random.hpp"

namespace pyanimf {
namespace {

// 2^-24: a 24-bit integer times this is a float in [0, 1), exactly.
constexpr float kUnitStep = 1.0f / 16777216.0f;

inline float centred(std::uint64_t bits24, float half_width) {
    return (2.0f * (static_cast<float>(bits24) * kUnitStep) - 1.0f) * half_width;
}

}  // namespace

void fill_uniform(FactorMatrix& matrix, float half_width, std::uint64_t seed, std::uint64_t stream, int threads) {
    const auto rows = static_cast<std::int64_t>(matrix.rows());
    const std::size_t dim = matrix.dim();
    const std::uint64_t base = make_stream(seed, stream).next();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        SplitMix64 rng = make_stream(base, static_cast<std::uint64_t>(r));
        float* row = matrix.row(static_cast<std::size_t>(r));
        // Two values from each 64-bit draw: bits 40..63 and bits 8..31.
        for (std::size_t k = 0; k < dim; k += 2) {
            const std::uint64_t bits = rng.next();
            row[k] = centred(bits >> 40, half_width);
            if (k + 1 < dim) row[k + 1] = centred((bits >> 8) & 0xFFFFFFu, half_width);
        }
        std::fill(row + dim, row + matrix.stride(), 0.0f);
    }
}

}  // namespace pyanimf
