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
#include "sgd/fixed_step.hpp"
#include "sgd/settings.hpp"

namespace pyanimf {

// A block's contribution to the epoch's statistics and to the output layer.
// The block trains its own copy of the output layer, starting from the value
// at the start of the epoch, and reports how far it moved.
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

// The SGD step of one rating: `gradient(dot)` returns the gradient scale g
// of kernels/kernels.hpp (error * w * f'(z)) for the update.
template <typename Ops, typename GradientFn>
inline void sgd_step(float* p, float* q, std::size_t n, float lr, float reg, GradientFn gradient) {
    const float scale = gradient(Ops::dot(p, q, n));
    Ops::update(p, q, n, scale, lr, reg);
}

// a[0..n) += c * b[0..n). A plain loop that each kernel file's flags
// vectorise; n is a row stride, a multiple of 16.
inline void add_scaled(float* a, const float* b, std::size_t n, float c) {
    for (std::size_t k = 0; k < n; ++k) a[k] += c * b[k];
}

// The SGD step with the implicit term (sgd/implicit.hpp). The user row p
// contains x_u + z_u, the user's own factors plus the fixed implicit sum z, so
// the dot product and the anime row's update are the plain step's. Only
// x_u is penalised: after the plain update, which shrinks all of p, z's
// share of the shrinkage is added back. The gradient of z, scale * q with
// q before its update, is summed into the user's row of G.
template <typename Ops, typename GradientFn>
inline void implicit_step(float* p, float* q, const float* z, float* g_row, std::size_t n, float lr, float reg,
                          GradientFn gradient) {
    const float scale = gradient(Ops::dot(p, q, n));
    add_scaled(g_row, q, n, scale);
    Ops::update(p, q, n, scale, lr, reg);
    add_scaled(p, z, n, lr * reg);
}

// Ops provides static `float dot(const float*, const float*, std::size_t)`
// and `void update(float* p, float* q, std::size_t, float g, float lr, float reg)`
// with the semantics documented in kernels/kernels.hpp, and `kFixedSteps`,
// true when `Ops::Vectors` provides the operations of fixed_step.hpp.
//
// The output function, the use of biases, the implicit term and the row
// stride (0: known only at run time) are template parameters, so the loop
// for each combination carries no branch on them. The implicit term uses
// the generic step only.
//
// The grid stores local indices of type Index within the block's groups, so
// the row and bias pointers below start at the groups' first rows.
template <typename Ops, typename Index, bool kSigmoid, bool kBiases, bool kImplicit, std::size_t kStride>
BlockSums sgd_block_with(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                         const SgdSettings& settings, const DenseLayer& dense) {
    const Index* users = grid.local_users<Index>();
    const Index* items = grid.local_items<Index>();
    const float* scores = grid.scores();
    const std::size_t stride = kStride != 0 ? kStride : model.user_factors.stride();
    const auto first_user = static_cast<std::size_t>(grid.first_user(block));
    const auto first_item = static_cast<std::size_t>(grid.first_item(block));
    float* user_rows = model.user_factors.data() + first_user * stride;
    float* item_rows = model.item_factors.data() + first_item * stride;
    float weight = static_cast<float>(dense.weight);
    float bias = static_cast<float>(dense.bias);
    const float global_mean = model.global_mean;
    const float dense_lr = settings.dense_learning_rate;
    const float lr = settings.learning_rate;
    const float reg = settings.regularization;
    const float bias_keep = 1.0f - lr * settings.bias_regularization;
    float* user_bias = model.user_bias.get() + first_user;
    float* item_bias = model.item_bias.get() + first_item;
    const float* user_scale = model.user_scale.get() + first_user;
    const float* implicit_sums = kImplicit ? model.implicit_sums.data() + first_user * stride : nullptr;
    float* implicit_gradients = kImplicit ? model.implicit_gradients.data() + first_user * stride : nullptr;

    const std::size_t begin = grid.block_begin(block);
    const std::size_t end = grid.block_end(block);
    BlockSums sums;
    for (std::size_t k = begin; k < end; ++k) {
        if (k + kPrefetchDistance < end) {
            prefetch_row(user_rows + static_cast<std::size_t>(users[k + kPrefetchDistance]) * stride, stride);
            prefetch_row(item_rows + static_cast<std::size_t>(items[k + kPrefetchDistance]) * stride, stride);
        }
        const auto u = static_cast<std::size_t>(users[k]);
        const auto i = static_cast<std::size_t>(items[k]);
        float* p = user_rows + u * stride;
        float* q = item_rows + i * stride;

        const float score = scores[k];
        // z without the dot product, summed before the dot product is ready.
        float offset = bias + global_mean;
        if (kBiases) offset += user_bias[u] + item_bias[i];
        float dot = 0.0f;
        float g = 0.0f;
        auto gradient = [&](float dot_product) {
            dot = dot_product;
            const float z = weight * dot + offset;
            const float y = kSigmoid ? 1.0f / (1.0f + std::exp(-z)) : z;
            const float error = score - y;
            // g = error * dy/dz; the constant 2 of the squared loss is folded
            // into the learning rate.
            g = kSigmoid ? error * y * (1.0f - y) : error;
            // The grid stores the score divided by the user's scale s_u, so
            // the error on the standardised scale is s_u times this one.
            const float scaled_error = error * user_scale[u];
            sums.squared_error += static_cast<double>(scaled_error) * scaled_error;
            if (kBiases) {
                user_bias[u] = bias_keep * user_bias[u] + lr * g;
                item_bias[i] = bias_keep * item_bias[i] + lr * g;
            }
            if constexpr (kSigmoid) return g * weight;
            // For the identity this equals g * weight but needs one FMA after
            // the dot product. The row updates wait for this value, and the
            // chain through z and the error above now runs beside them.
            return weight * (score - offset) - weight * weight * dot;
        };
        if constexpr (kImplicit) {
            implicit_step<Ops>(p, q, implicit_sums + u * stride, implicit_gradients + u * stride, stride, lr, reg,
                               gradient);
        } else if constexpr (kStride == 0) {
            sgd_step<Ops>(p, q, stride, lr, reg, gradient);
        } else {
            fixed_step<typename Ops::Vectors, kStride>(p, q, lr, reg, gradient);
        }
        weight += dense_lr * g * dot;
        bias += dense_lr * g;
    }
    sums.weight_change = static_cast<double>(weight) - dense.weight;
    sums.bias_change = static_cast<double>(bias) - dense.bias;
    sums.count = end - begin;
    return sums;
}

// Strides 32, 64 and 128, the padded widths of the usual embedding sizes, get
// a fixed-width step (fixed_step.hpp) where both rows fit in the kernel
// set's registers. Other strides, and the scalar reference, use the generic
// step.
template <typename Ops, typename Index, bool kSigmoid, bool kBiases>
BlockSums sgd_block_for_stride(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                               const SgdSettings& settings, const DenseLayer& dense) {
    if constexpr (Ops::kFixedSteps) {
        constexpr std::size_t kMaxStride = Ops::Vectors::kMaxFixedStride;
        const std::size_t stride = model.user_factors.stride();
        if (stride == 32) return sgd_block_with<Ops, Index, kSigmoid, kBiases, false, 32>(grid, block, model, settings, dense);
        if constexpr (kMaxStride >= 64) {
            if (stride == 64) return sgd_block_with<Ops, Index, kSigmoid, kBiases, false, 64>(grid, block, model, settings, dense);
        }
        if constexpr (kMaxStride >= 128) {
            if (stride == 128) return sgd_block_with<Ops, Index, kSigmoid, kBiases, false, 128>(grid, block, model, settings, dense);
        }
    }
    return sgd_block_with<Ops, Index, kSigmoid, kBiases, false, 0>(grid, block, model, settings, dense);
}

template <typename Ops, typename Index, bool kSigmoid, bool kBiases>
BlockSums sgd_block_for_term(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                             const SgdSettings& settings, const DenseLayer& dense) {
    if (model.implicit()) {
        return sgd_block_with<Ops, Index, kSigmoid, kBiases, true, 0>(grid, block, model, settings, dense);
    }
    return sgd_block_for_stride<Ops, Index, kSigmoid, kBiases>(grid, block, model, settings, dense);
}

template <typename Ops, typename Index>
BlockSums sgd_block_for_index(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                              const SgdSettings& settings, const DenseLayer& dense) {
    const bool sigmoid = settings.output == OutputFunction::sigmoid;
    if (sigmoid && settings.use_biases) {
        return sgd_block_for_term<Ops, Index, true, true>(grid, block, model, settings, dense);
    }
    if (sigmoid) return sgd_block_for_term<Ops, Index, true, false>(grid, block, model, settings, dense);
    if (settings.use_biases) return sgd_block_for_term<Ops, Index, false, true>(grid, block, model, settings, dense);
    return sgd_block_for_term<Ops, Index, false, false>(grid, block, model, settings, dense);
}

template <typename Ops>
BlockSums sgd_block(const BlockGrid& grid, std::size_t block, ModelArrays& model,
                    const SgdSettings& settings, const DenseLayer& dense) {
    if (grid.narrow()) return sgd_block_for_index<Ops, std::uint16_t>(grid, block, model, settings, dense);
    return sgd_block_for_index<Ops, std::int32_t>(grid, block, model, settings, dense);
}

}  // namespace
}  // namespace pyanimf
