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
    const std::size_t n_blocks = static_cast<std::size_t>(groups) * groups;
    std::vector<BlockSums> sums(n_blocks);
    std::vector<double> busy(n_blocks, 0.0);
    // One token per row group and per column group. A block's task depends
    // on both of its tokens, so OpenMP runs it after the tasks created
    // earlier on the same row group or column group and never beside them.
    // Each group thus gets the same sequence of blocks as strata run one by
    // one, with no barrier between strata. A thread that the OS deschedules
    // delays only the blocks that depend on its own.
    std::vector<char> row_tokens(groups, 0);
    std::vector<char> column_tokens(groups, 0);
    char* rows = row_tokens.data();
    char* columns = column_tokens.data();
    static_cast<void>(rows);  // Used only in depend clauses, which GCC 12 does not count as a use.
    static_cast<void>(columns);
    const DenseLayer epoch_dense = dense;
    WorkerErrors worker_errors;

#pragma omp parallel num_threads(threads)
#pragma omp single
    for (int stratum : strata) {
        for (int row_group = 0; row_group < groups; ++row_group) {
            const std::size_t block = grid.block_of(stratum, row_group);
            const std::size_t column_group = block % static_cast<std::size_t>(groups);
#pragma omp task firstprivate(block) depend(inout : rows[row_group], columns[column_group])
            {
                try {
                    const double block_start = now_seconds();
                    sums[block] = kernels.sgd_block(grid, block, model, settings, epoch_dense);
                    busy[block] = now_seconds() - block_start;
                } catch (...) {
                    worker_errors.capture();
                }
            }
        }
    }
    worker_errors.rethrow_if_any();

    // Each block trained its own copy of the output layer from the value at
    // the start of the epoch; the layer moves by the blocks' changes,
    // averaged with their rating counts as weights. Summed in block order,
    // so the result does not depend on which thread finished first.
    double weight_change = 0.0;
    double bias_change = 0.0;
    for (std::size_t block = 0; block < n_blocks; ++block) {
        result.squared_error += sums[block].squared_error;
        weight_change += sums[block].weight_change * static_cast<double>(sums[block].count);
        bias_change += sums[block].bias_change * static_cast<double>(sums[block].count);
        result.count += sums[block].count;
        result.busy_seconds += busy[block];
    }
    if (result.count > 0) {
        dense.weight += weight_change / static_cast<double>(result.count);
        dense.bias += bias_change / static_cast<double>(result.count);
    }
    // The model is unusable once this happens; the caller reports which
    // setting to lower.
    result.finite = std::isfinite(result.squared_error) && std::isfinite(dense.weight) && std::isfinite(dense.bias);
    result.dense = dense;
    result.wall_seconds = now_seconds() - start;
    return result;
}

}  // namespace pyanimf
