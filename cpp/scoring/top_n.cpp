#include "scoring/top_n.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

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
    // Ranked before the user's scale is applied: s_u > 0 keeps the order,
    // but the rounded products could tie where f(z) does not.
    std::vector<ScoredIndex> best = select_best(std::move(candidates), n);
    for (ScoredIndex& entry : best) entry.score *= model.user_scale[user];
    return best;
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

namespace pyanimf {

void batch_top_n(const float* dots, std::size_t rows, std::size_t n_items, std::size_t row_stride,
                 float weight, const float* user_offset, const float* item_offset,
                 const std::int64_t* seen_indptr, const std::int32_t* seen_items, std::size_t n,
                 std::int32_t* out_items, float* out_scores, int threads) {
    const auto row_count = static_cast<std::int64_t>(rows);
    const float excluded = -std::numeric_limits<float>::infinity();
#pragma omp parallel num_threads(threads)
    {
        // Per-thread scratch: the current row's scores and a min-heap of the
        // best n so far.
        std::vector<float> scores(n_items);
        std::vector<ScoredIndex> heap;
        heap.reserve(n + 1);
        auto worse_on_top = [](const ScoredIndex& a, const ScoredIndex& b) { return ranks_before(a, b); };
#pragma omp for schedule(dynamic, 16)
        for (std::int64_t r = 0; r < row_count; ++r) {
            // One vectorisable pass for the scores, then the seen anime are
            // set to -inf, so the selection loop below is a compare per anime.
            const float* row = dots + r * row_stride;
            const float offset = user_offset[r];
            for (std::size_t item = 0; item < n_items; ++item) {
                scores[item] = weight * row[item] + offset + item_offset[item];
            }
            for (std::int64_t k = seen_indptr[r]; k < seen_indptr[r + 1]; ++k) scores[seen_items[k]] = excluded;

            heap.clear();
            float threshold = excluded;
            for (std::size_t item = 0; item < n_items; ++item) {
                const float score = scores[item];
                // Equal scores go through ranks_before, which prefers the
                // lower index, so ties break as in top_n_items.
                if (score < threshold || score == excluded) continue;
                const ScoredIndex candidate{static_cast<std::int32_t>(item), score};
                if (heap.size() < n) {
                    heap.push_back(candidate);
                    std::push_heap(heap.begin(), heap.end(), worse_on_top);
                } else if (ranks_before(candidate, heap.front())) {
                    std::pop_heap(heap.begin(), heap.end(), worse_on_top);
                    heap.back() = candidate;
                    std::push_heap(heap.begin(), heap.end(), worse_on_top);
                } else {
                    continue;
                }
                if (heap.size() == n) threshold = heap.front().score;
            }
            std::sort_heap(heap.begin(), heap.end(), worse_on_top);
            for (std::size_t k = 0; k < n; ++k) {
                const bool filled = k < heap.size();
                out_items[r * n + k] = filled ? heap[k].index : -1;
                out_scores[r * n + k] = filled ? heap[k].score : excluded;
            }
        }
    }
}

}  // namespace pyanimf
