// Batch prediction: s_u * f(w * <p_u, q_i> + b + mu + b_u + b_i) for many pairs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"
#include "model/model_arrays.hpp"
#include "sgd/epoch.hpp"

namespace pyanimf {

// Writes the prediction of pair k to out[k], on the model's internal scale
// (the Python layer maps it back to the rating scale). Indices must be valid;
// the bindings check them. Touches no Python object.
void predict_pairs(const ModelArrays& model, const SgdSettings& settings, const DenseLayer& dense,
                   const kernels::KernelSet& kernels, const std::int32_t* users,
                   const std::int32_t* items, std::size_t count, float* out, int threads);

// z = w * <p_u, q_i> + b + mu (+ b_u + b_i), before the output function and
// the user's scale.
inline float raw_score(const ModelArrays& model, const SgdSettings& settings, const DenseLayer& dense,
                       const kernels::KernelSet& kernels, std::int32_t user, std::int32_t item) {
    const float dot = kernels.dot(model.user_factors.row(user), model.item_factors.row(item),
                                  model.user_factors.stride());
    float z = static_cast<float>(dense.weight) * dot + static_cast<float>(dense.bias) + model.global_mean;
    if (settings.use_biases) z += model.user_bias[user] + model.item_bias[item];
    return z;
}

}  // namespace pyanimf
