#include "sgd/epoch.hpp"

#include <chrono>
#include <numeric>
#include <vector>

#include "common/random.hpp"
#include "common/worker_errors.hpp"

namespace pyanimf {
namespace {

constexpr std::uint64_t kStratumOrderStream = 0x5157A7A;

double now_seconds() {
    using clock = std::chrono::steady_clock;
    return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
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
    std::vector<double> busy(groups, 0.0);
    WorkerErrors worker_errors;

    for (int stratum : strata) {
        // Blocks of one stratum share no user row, anime row or bias entry
        // (see block_grid.hpp), so they run in parallel without locks.
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
        for (int row_group = 0; row_group < groups; ++row_group) {
            try {
                const double block_start = now_seconds();
                sums[row_group] = kernels.sgd_block(grid, grid.block_of(stratum, row_group), model,
                                                    settings, dense);
                busy[row_group] = now_seconds() - block_start;
            } catch (...) {
                worker_errors.capture();
            }
        }
        worker_errors.rethrow_if_any();

        // Each block trained its own copy of the output layer; the new layer
        // moves by the blocks' changes averaged with their rating counts as
        // weights. Summed in block order, so the result does not depend on
        // which thread finished first.
        BlockSums total;
        for (int row_group = 0; row_group < groups; ++row_group) {
            const BlockSums& block = sums[row_group];
            total.squared_error += block.squared_error;
            total.weight_change += block.weight_change * static_cast<double>(block.count);
            total.bias_change += block.bias_change * static_cast<double>(block.count);
            total.count += block.count;
            result.busy_seconds += busy[row_group];
        }
        result.squared_error += total.squared_error;
        result.count += total.count;
        if (total.count > 0) {
            dense.weight += total.weight_change / static_cast<double>(total.count);
            dense.bias += total.bias_change / static_cast<double>(total.count);
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
