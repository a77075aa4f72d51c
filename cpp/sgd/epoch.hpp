// One epoch of parallel SGD over a BlockGrid (see scheduler/block_grid.hpp
// for why the schedule is race-free and deterministic).
//
// Prediction for rating (u, i):  z = w * <p_u, q_i> + b + mu + b_u + b_i,
// y = f(z), with f the identity or the logistic sigmoid. The loss is
// (r / s_u - y)^2 plus L2 penalties on the factors (regularization) and on
// the biases (bias_regularization). s_u is the user's scale
// (ModelArrays::user_scale), and the grid stores r / s_u.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"
#include "model/model_arrays.hpp"
#include "scheduler/block_grid.hpp"
#include "sgd/settings.hpp"

namespace pyanimf {

struct EpochResult {
    // Sum over the epoch on the standardised scale (each error times its
    // user's scale), each error taken before its update.
    double squared_error = 0.0;
    std::size_t count = 0;
    DenseLayer dense;            // the output layer after the epoch
    bool finite = true;          // false once any error or factor became NaN or infinite
    double busy_seconds = 0.0;   // summed over threads: time spent inside blocks
    double wall_seconds = 0.0;
    int threads = 1;
};

// Runs one epoch. Strata are visited in an order drawn from (seed, epoch);
// see scheduler/block_grid.hpp for how blocks are ordered and why the result
// does not depend on `threads`. Exceptions thrown inside worker threads are
// re-thrown on the caller's thread after the parallel region. Touches no
// Python object.
EpochResult run_epoch(const BlockGrid& grid, ModelArrays& model, const SgdSettings& settings,
                      DenseLayer dense, const kernels::KernelSet& kernels, int threads,
                      std::uint64_t seed, std::uint64_t epoch);

}  // namespace pyanimf
