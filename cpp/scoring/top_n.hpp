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

// The n anime with the highest prediction for `user` (s_u * f(z)), best
// first (ties of f(z) by the lower index), skipping every index listed in `exclude` (any order, values
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

namespace pyanimf {

// Top-N over precomputed dot products, for many users at once. Row r of
// `dots` (row_stride floats apart) contains <p_u, q_i> for every anime i of
// user r of the batch; the score is weight * dot + user_offset[r] +
// item_offset[i]. Anime listed for row r in the CSR (seen_indptr,
// seen_items) are skipped. Writes the n best anime of each row, best first,
// to out_items / out_scores (rows x n); a row with fewer than n candidates
// is padded with index -1 and score -inf. Touches no Python object.
void batch_top_n(const float* dots, std::size_t rows, std::size_t n_items, std::size_t row_stride,
                 float weight, const float* user_offset, const float* item_offset,
                 const std::int64_t* seen_indptr, const std::int32_t* seen_items, std::size_t n,
                 std::int32_t* out_items, float* out_scores, int threads);

}  // namespace pyanimf
