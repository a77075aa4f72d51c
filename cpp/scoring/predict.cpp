#include "scoring/predict.hpp"

namespace pyanimf {

void predict_pairs(const ModelArrays& model, const SgdSettings& settings, const DenseLayer& dense,
                   const kernels::KernelSet& kernels, const std::int32_t* users,
                   const std::int32_t* items, std::size_t count, float* out, int threads) {
    const auto n = static_cast<std::int64_t>(count);
    // Each k writes only out[k] and reads the model, so iterations are independent.
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 100000)
    for (std::int64_t k = 0; k < n; ++k) {
        const float z = raw_score(model, settings, dense, kernels, users[k], items[k]);
        out[k] = model.user_scale[users[k]] * apply_output(settings.output, z);
    }
}

}  // namespace pyanimf
