#include "sgd/epoch.hpp"

#include <chrono>
#include <exception>
#include <numeric>
#include <vector>

#include "common/random.hpp"

namespace pyanimf {
namespace {

constexpr std::uint64_t kStratumOrderStream = 0x5157A7A;

double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

// What one block contributes to the epoch's statistics and to the output
// layer's gradient.
struct BlockSums {
    double squared_error = 0.0;
    double weight_gradient = 0.0;
    double bias_gradient = 0.0;
    std::size_t count = 0;
    double seconds = 0.0;
};

BlockSums process_block(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                        const SgdSettings& settings, const DenseLayer& dense,
                        const kernels::KernelSet& kernels) {
    const double start = now_seconds();
    const std::int32_t* users = grid.users();
    const std::int32_t* items = grid.items();
    const float* scores = grid.scores();
    const std::size_t stride = model.user_factors.stride();
    const float weight = static_cast<float>(dense.weight);
    const float offset = static_cast<float>(dense.bias) + model.global_mean;
    const float lr = settings.learning_rate;
    const float bias_keep = 1.0f - lr * settings.bias_regularization;
    float* user_bias = model.user_bias.get();
    float* item_bias = model.item_bias.get();

    BlockSums sums;
    for (std::size_t k = grid.block_begin(block); k < grid.block_end(block); ++k) {
        const std::int32_t u = users[k];
        const std::int32_t i = items[k];
        float* p = model.user_factors.row(u);
        float* q = model.item_factors.row(i);

        const float dot = kernels.dot(p, q, stride);
        float z = weight * dot + offset;
        if (settings.use_biases) z += user_bias[u] + item_bias[i];
        const float y = apply_output(settings.output, z);
        const float error = scores[k] - y;
        // g = error * dy/dz; the constant 2 of the squared loss is folded into
        // the learning rate.
        const float g = settings.output == OutputFunction::sigmoid ? error * y * (1.0f - y) : error;

        sums.squared_error += static_cast<double>(error) * error;
        sums.weight_gradient += static_cast<double>(g) * dot;
        sums.bias_gradient += g;

        if (settings.use_biases) {
            user_bias[u] = bias_keep * user_bias[u] + lr * g;
            item_bias[i] = bias_keep * item_bias[i] + lr * g;
        }
        kernels.update(p, q, stride, g * weight, lr, settings.regularization);
    }
    sums.count = grid.block_end(block) - grid.block_begin(block);
    sums.seconds = now_seconds() - start;
    return sums;
}

}  // namespace

EpochResult run_epoch(const BlockGrid& grid, ModelArrays& model, const SgdSettings& settings,
                      DenseLayer dense, const kernels::KernelSet& kernels, int threads,
                      std::uint64_t seed, std::uint64_t epoch) {
    const int groups = grid.grid_size();
    std::vector<int> strata(groups);
    std::iota(strata.begin(), strata.end(), 0);
    SplitMix64 rng = make_stream(seed ^ kStratumOrderStream, epoch);
    shuffle(strata.data(), strata.size(), rng);

    EpochResult result;
    result.threads = threads;
    const double start = now_seconds();
    std::vector<BlockSums> sums(groups);
    std::exception_ptr worker_error;

    for (int stratum : strata) {
        // Blocks of one stratum share no user row, anime row or bias entry
        // (see block_grid.hpp), so they run in parallel without locks.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int row_group = 0; row_group < groups; ++row_group) {
            try {
                sums[row_group] = process_block(grid, grid.block_of(stratum, row_group), model,
                                                settings, dense, kernels);
            } catch (...) {
#pragma omp critical(pyanimf_worker_error)
                if (!worker_error) worker_error = std::current_exception();
            }
        }
        if (worker_error) std::rethrow_exception(worker_error);

        // Apply the output layer's gradient in block order, so the sum and
        // hence the model do not depend on which thread finished first.
        BlockSums total;
        for (const BlockSums& block : sums) {
            total.squared_error += block.squared_error;
            total.weight_gradient += block.weight_gradient;
            total.bias_gradient += block.bias_gradient;
            total.count += block.count;
            result.busy_seconds += block.seconds;
        }
        result.squared_error += total.squared_error;
        result.count += total.count;
        if (total.count > 0) {
            const double step = settings.dense_learning_rate / static_cast<double>(total.count);
            dense.weight += step * total.weight_gradient;
            dense.bias += step * total.bias_gradient;
        }
        if (!std::isfinite(total.squared_error) || !std::isfinite(dense.weight) ||
            !std::isfinite(dense.bias)) {
            // The model is already unusable; the caller reports which setting to lower.
            result.finite = false;
            break;
        }
    }
    result.dense = dense;
    result.wall_seconds = now_seconds() - start;
    return result;
}

}  // namespace pyanimf
