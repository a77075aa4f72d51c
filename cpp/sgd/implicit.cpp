#include "sgd/implicit.hpp"

#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <utility>

namespace pyanimf {
namespace {

void check_shape(const ImplicitLists& lists, const ModelArrays& model) {
    if (!model.implicit()) throw std::invalid_argument("implicit term: the model's implicit term is off");
    const std::size_t users = lists.user_indptr.size() - 1;
    const std::size_t items = lists.item_indptr.size() - 1;
    if (users != model.user_factors.rows() || items != model.item_factors.rows()) {
        throw std::invalid_argument("implicit term: the lists cover " + std::to_string(users) + " users and " +
                                    std::to_string(items) + " anime, the model " +
                                    std::to_string(model.user_factors.rows()) + " and " +
                                    std::to_string(model.item_factors.rows()));
    }
}

// Rows this many entries ahead are prefetched: the rows of a list lie all
// over a matrix larger than the caches, so most reads would otherwise wait
// on memory.
constexpr std::int64_t kPrefetchAhead = 8;

// out[0..n) = sum over k in [begin, end) of weight(k) * row(k)[0..n), summed
// in the order of k. `row_and_weight(k)` returns (row pointer, weight).
template <typename RowFn>
void weighted_row_sum(float* __restrict out, std::size_t n, std::int64_t begin, std::int64_t end,
                      RowFn row_and_weight) {
    for (std::size_t d = 0; d < n; ++d) out[d] = 0.0f;
    for (std::int64_t k = begin; k < end; ++k) {
        if (k + kPrefetchAhead < end) {
            const char* ahead = reinterpret_cast<const char*>(row_and_weight(k + kPrefetchAhead).first);
            for (std::size_t byte = 0; byte < n * sizeof(float); byte += kRowAlignment) {
                __builtin_prefetch(ahead + byte, 0, 1);
            }
        }
        const auto [row, weight] = row_and_weight(k);
        const float* __restrict values = row;
        for (std::size_t d = 0; d < n; ++d) out[d] += weight * values[d];
    }
}

}  // namespace

ImplicitLists make_implicit_lists(SeenSets listed, std::int32_t n_items) {
    ImplicitLists lists;
    lists.user_indptr = std::move(listed.indptr);
    lists.user_items = std::move(listed.items);
    const std::size_t n_users = lists.user_indptr.size() - 1;
    lists.user_weight.assign(n_users, 0.0f);
    lists.item_indptr.assign(static_cast<std::size_t>(n_items) + 1, 0);
    for (std::size_t k = 0; k < lists.user_items.size(); ++k) {
        const std::int32_t item = lists.user_items[k];
        if (item < 0 || item >= n_items) {
            throw std::invalid_argument("implicit lists: anime row " + std::to_string(item) + " at entry " +
                                        std::to_string(k) + " is outside [0, " + std::to_string(n_items) + ")");
        }
        ++lists.item_indptr[static_cast<std::size_t>(item) + 1];
    }
    for (std::size_t j = 0; j < static_cast<std::size_t>(n_items); ++j) {
        lists.item_indptr[j + 1] += lists.item_indptr[j];
    }
    lists.item_users.resize(lists.user_items.size());
    std::vector<std::int64_t> cursor(lists.item_indptr.begin(), lists.item_indptr.end() - 1);
    for (std::size_t u = 0; u < n_users; ++u) {
        const std::int64_t begin = lists.user_indptr[u];
        const std::int64_t end = lists.user_indptr[u + 1];
        if (end > begin) lists.user_weight[u] = static_cast<float>(1.0 / std::sqrt(static_cast<double>(end - begin)));
        for (std::int64_t k = begin; k < end; ++k) {
            lists.item_users[cursor[lists.user_items[k]]++] = static_cast<std::int32_t>(u);
        }
    }
    return lists;
}

bool implicit_epoch_end(const ImplicitLists& lists, ModelArrays& model, float step, int threads) {
    check_shape(lists, model);
    const std::size_t stride = model.implicit_sums.stride();
    const auto n_items = static_cast<std::int64_t>(model.implicit_items.rows());
    const FactorMatrix& gradients = model.implicit_gradients;
#pragma omp parallel num_threads(threads)
    {
        std::vector<float> change(stride);
#pragma omp for schedule(dynamic, 64)
        for (std::int64_t j = 0; j < n_items; ++j) {
            weighted_row_sum(change.data(), stride, lists.item_indptr[j], lists.item_indptr[j + 1],
                             [&](std::int64_t k) {
                                 const std::int32_t u = lists.item_users[k];
                                 return std::make_pair(gradients.row(u), lists.user_weight[u]);
                             });
            float* y = model.implicit_items.row(j);
            // The mean over the anime's users, not the sum: see the header.
            const std::int64_t listed = lists.item_indptr[j + 1] - lists.item_indptr[j];
            const float item_step = listed > 0 ? step / static_cast<float>(listed) : 0.0f;
            for (std::size_t d = 0; d < stride; ++d) y[d] += item_step * change[d];
        }
    }
    // Each user row contains x_u + z_u: the old z goes out and the new one,
    // summed from the new y, goes in. The user's gradient returns to zero.
    const auto n_users = static_cast<std::int64_t>(model.implicit_sums.rows());
    const FactorMatrix& y = model.implicit_items;
    int not_finite = 0;
#pragma omp parallel num_threads(threads) reduction(| : not_finite)
    {
        std::vector<float> new_sum(stride);
#pragma omp for schedule(dynamic, 256)
        for (std::int64_t u = 0; u < n_users; ++u) {
            const float weight = lists.user_weight[u];
            weighted_row_sum(new_sum.data(), stride, lists.user_indptr[u], lists.user_indptr[u + 1],
                             [&](std::int64_t k) { return std::make_pair(y.row(lists.user_items[k]), weight); });
            float* row = model.user_factors.row(u);
            float* z = model.implicit_sums.row(u);
            float* g = model.implicit_gradients.row(u);
            for (std::size_t d = 0; d < stride; ++d) {
                row[d] = (row[d] - z[d]) + new_sum[d];
                z[d] = new_sum[d];
                g[d] = 0.0f;
                not_finite |= static_cast<int>(!std::isfinite(row[d]));
            }
        }
    }
    return not_finite == 0;
}

}  // namespace pyanimf
