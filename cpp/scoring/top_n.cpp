#include "scoring/top_n.hpp"

#include <algorithm>
#include <cmath>

#include "scoring/predict.hpp"

namespace pyanimf {
namespace {

bool ranks_before(const ScoredIndex& a, const ScoredIndex& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.index < b.index;
}

// Keeps the n best candidates, best first.
std::vector<ScoredIndex> select_best(std::vector<ScoredIndex> candidates, std::size_t n) {
    n = std::min(n, candidates.size());
    std::partial_sort(candidates.begin(), candidates.begin() + n, candidates.end(), ranks_before);
    candidates.resize(n);
    return candidates;
}

}  // namespace

std::vector<ScoredIndex> top_n_items(const ModelArrays& model, const SgdSettings& settings,
                                     const DenseLayer& dense, const kernels::KernelSet& kernels,
                                     std::int32_t user, const std::int32_t* exclude,
                                     std::size_t exclude_count, std::size_t n) {
    const std::size_t n_items = model.item_factors.rows();
    std::vector<char> excluded(n_items, 0);
    for (std::size_t k = 0; k < exclude_count; ++k) {
        if (exclude[k] >= 0 && static_cast<std::size_t>(exclude[k]) < n_items) excluded[exclude[k]] = 1;
    }
    std::vector<ScoredIndex> candidates;
    candidates.reserve(n_items);
    for (std::size_t item = 0; item < n_items; ++item) {
        if (excluded[item]) continue;
        const auto index = static_cast<std::int32_t>(item);
        const float z = raw_score(model, settings, dense, kernels, user, index);
        candidates.push_back({index, apply_output(settings.output, z)});
    }
    return select_best(std::move(candidates), n);
}

std::vector<ScoredIndex> most_similar_rows(const FactorMatrix& matrix,
                                           const kernels::KernelSet& kernels, std::int32_t query,
                                           std::size_t n) {
    const std::size_t stride = matrix.stride();
    const float* query_row = matrix.row(query);
    const float query_norm = std::sqrt(kernels.dot(query_row, query_row, stride));

    std::vector<ScoredIndex> candidates;
    candidates.reserve(matrix.rows());
    for (std::size_t row = 0; row < matrix.rows(); ++row) {
        if (row == static_cast<std::size_t>(query)) continue;
        const float* other = matrix.row(row);
        const float norms = query_norm * std::sqrt(kernels.dot(other, other, stride));
        const float cosine = norms > 0.0f ? kernels.dot(query_row, other, stride) / norms : 0.0f;
        candidates.push_back({static_cast<std::int32_t>(row), cosine});
    }
    return select_best(std::move(candidates), n);
}

}  // namespace pyanimf
