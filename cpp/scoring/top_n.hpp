// Top-N scoring: the highest predicted scores of one user over all anime, and
// the nearest rows of a factor matrix by cosine similarity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/kernels.hpp"
#include "model/model_arrays.hpp"
#include "sgd/epoch.hpp"

namespace pyanimf {

struct ScoredIndex {
    std::int32_t index;
    float score;
};

// The n anime with the highest prediction for `user`, best first (ties by the
// lower index), skipping every index listed in `exclude` (any order, values
// outside [0, n_items) are ignored). Fewer than n when fewer remain.
std::vector<ScoredIndex> top_n_items(const ModelArrays& model, const SgdSettings& settings,
                                     const DenseLayer& dense, const kernels::KernelSet& kernels,
                                     std::int32_t user, const std::int32_t* exclude,
                                     std::size_t exclude_count, std::size_t n);

// The n rows of `matrix` most similar to row `query` by cosine similarity,
// best first, the query itself excluded. Rows of zero norm score 0.
std::vector<ScoredIndex> most_similar_rows(const FactorMatrix& matrix,
                                           const kernels::KernelSet& kernels, std::int32_t query,
                                           std::size_t n);

}  // namespace pyanimf
