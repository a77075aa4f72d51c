// Random initial embeddings.
#pragma once

#include <cstdint>

#include "model/model_arrays.hpp"

namespace pyanimf {

// Fills the first dim() floats of every row of `matrix` with values drawn
// uniformly from [-half_width, half_width), and the padding with zeros, so
// a matrix made with `zeroed` false is ready for training afterwards.
//
// Row r takes its values from its own stream of (seed, stream, r), so the
// result is the same for any thread count and on every platform: the draw
// uses integer arithmetic and one exact float multiply, no library math.
void fill_uniform(FactorMatrix& matrix, float half_width, std::uint64_t seed, std::uint64_t stream, int threads);

}  // namespace pyanimf
