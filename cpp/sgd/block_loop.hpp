// The SGD loop over the ratings of one block, written once as a template
// over the vector operations and instantiated in each kernel's source file,
// so the dot product and the update inline into the loop under that file's
// instruction-set flags.
//
// The loop lives in an anonymous namespace on purpose: each kernel file then
// gets its own copy, compiled with its own flags. With external linkage the
// linker could keep an AVX-512 copy of a shared helper and call it on a CPU
// without AVX-512. For the same reason the loop calls no out-of-line helper
// and reads rows through plain pointer arithmetic.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "model/model_arrays.hpp"
#include "scheduler/block_grid.hpp"
#include "sgd/settings.hpp"

namespace pyanimf {

// What one block contributes to the epoch's statistics and to the output
// layer. The block trains its own copy of the output layer, starting from the
// stratum's value, and reports how far it moved.
struct BlockSums {
    double squared_error = 0.0;
    double weight_change = 0.0;
    double bias_change = 0.0;
    std::size_t count = 0;
};

namespace {

// Ratings ahead whose factor rows are prefetched. Far enough to hide a DRAM
// access behind the updates in between, near enough that the lines are
// still in L1 when used.
constexpr std::size_t kPrefetchDistance = 8;


inline void prefetch_row(const float* row, std::size_t stride) {
    const char* bytes = reinterpret_cast<const char*>(row);
    for (std::size_t offset = 0; offset < stride * sizeof(float); offset += kRowAlignment) {
        __builtin_prefetch(bytes + offset, 1, 3);
    }
}

// Ops provides static `float dot(const float*, const float*, std::size_t)`
// and `void update(float* p, float* q, std::size_t, float g, float lr, float reg)`
// with the semantics documented in kernels/kernels.hpp.
template <typename Ops>
BlockSums sgd_block(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                    const SgdSettings& settings, const DenseLayer& dense) {
    const std::int32_t* users = grid.users();
    const std::int32_t* items = grid.items();
    const float* scores = grid.scores();
    const std::size_t stride = model.user_factors.stride();
    float* user_rows = model.user_factors.data();
    float* item_rows = model.item_factors.data();
    float weight = static_cast<float>(dense.weight);
    float bias = static_cast<float>(dense.bias);
    const float global_mean = model.global_mean;
    const float dense_lr = settings.dense_learning_rate;
    const float lr = settings.learning_rate;
    const float reg = settings.regularization;
    const float bias_keep = 1.0f - lr * settings.bias_regularization;
    const bool use_biases = settings.use_biases;
    const bool sigmoid = settings.output == OutputFunction::sigmoid;
    float* user_bias = model.user_bias.get();
    float* item_bias = model.item_bias.get();

    const std::size_t begin = grid.block_begin(block);
    const std::size_t end = grid.block_end(block);
    BlockSums sums;
    for (std::size_t k = begin; k < end; ++k) {
        if (k + kPrefetchDistance < end) {
            prefetch_row(user_rows + users[k + kPrefetchDistance] * stride, stride);
            prefetch_row(item_rows + items[k + kPrefetchDistance] * stride, stride);
        }
        const std::int32_t u = users[k];
        const std::int32_t i = items[k];
        float* p = user_rows + u * stride;
        float* q = item_rows + i * stride;

        const float dot = Ops::dot(p, q, stride);
        float z = weight * dot + bias + global_mean;
        if (use_biases) z += user_bias[u] + item_bias[i];
        const float y = sigmoid ? 1.0f / (1.0f + std::exp(-z)) : z;
        const float error = scores[k] - y;
        // g = error * dy/dz; the constant 2 of the squared loss is folded into
        // the learning rate.
        const float g = sigmoid ? error * y * (1.0f - y) : error;

        sums.squared_error += static_cast<double>(error) * error;

        if (use_biases) {
            user_bias[u] = bias_keep * user_bias[u] + lr * g;
            item_bias[i] = bias_keep * item_bias[i] + lr * g;
        }
        Ops::update(p, q, stride, g * weight, lr, reg);
        weight += dense_lr * g * dot;
        bias += dense_lr * g;
    }
    sums.weight_change = static_cast<double>(weight) - dense.weight;
    sums.bias_change = static_cast<double>(bias) - dense.bias;
    sums.count = end - begin;
    return sums;
}

}  // namespace
}  // namespace pyanimf
