// Hyper-parameters of SGD and the model's output layer, shared by training
// and scoring.
#pragma once

#include <cmath>

namespace pyanimf {

enum class OutputFunction { identity, sigmoid };

struct SgdSettings {
    float learning_rate = 0.01f;
    float regularization = 0.05f;
    float bias_regularization = 0.01f;
    // Step size of the output layer's weight and bias.
    float dense_learning_rate = 0.01f;
    bool use_biases = true;
    OutputFunction output = OutputFunction::identity;
};

// The single dense output layer over the dot product: z = weight * dot + bias.
struct DenseLayer {
    double weight = 1.0;
    double bias = 0.0;
};

// The output function f applied to z.
inline float apply_output(OutputFunction output, float z) {
    if (output == OutputFunction::sigmoid) return 1.0f / (1.0f + std::exp(-z));
    return z;
}

}  // namespace pyanimf
