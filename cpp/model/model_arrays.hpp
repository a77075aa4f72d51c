// Storage of the trained model: user factors P, anime factors Q, user and
// anime biases, the users' rating scales and the global mean, and during
// training with the implicit term (sgd/implicit.hpp) its three matrices.
// Python gets every array as a numpy view of this memory, so nothing is
// copied between training and the Python layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace pyanimf {

// Rows start on 64-byte boundaries (one cache line, one AVX-512 register).
constexpr std::size_t kRowAlignment = 64;
// Floats per row are padded to a multiple of this, so SIMD kernels never need
// a tail loop during training. The padding stays zero: an update of zeros by
// zeros leaves zeros.
constexpr std::size_t kPadFloats = kRowAlignment / sizeof(float);

struct AlignedDeleter {
    void operator()(float* ptr) const noexcept;
};

// A float buffer aligned to kRowAlignment, zero-initialised unless `zeroed`
// is false.
using AlignedFloats = std::unique_ptr<float[], AlignedDeleter>;
AlignedFloats allocate_aligned(std::size_t count, bool zeroed = true);

// A rows x dim float32 matrix whose rows are `stride` floats apart. Its
// values are zero unless `zeroed` is false, which leaves them for the
// caller to write, padding included.
class FactorMatrix {
  public:
    FactorMatrix(std::size_t rows, std::size_t dim, bool zeroed = true);

    std::size_t rows() const { return rows_; }
    std::size_t dim() const { return dim_; }
    std::size_t stride() const { return stride_; }
    float* row(std::size_t index) { return data_.get() + index * stride_; }
    const float* row(std::size_t index) const { return data_.get() + index * stride_; }
    float* data() { return data_.get(); }

  private:
    std::size_t rows_;
    std::size_t dim_;
    std::size_t stride_;
    AlignedFloats data_;
};

struct ModelArrays {
    // The biases start at zero, the user scales at one, and the factors at
    // zero unless `zeroed_factors` is false (see FactorMatrix).
    ModelArrays(std::size_t n_users, std::size_t n_items, std::size_t dim, bool zeroed_factors = true);

    FactorMatrix user_factors;
    FactorMatrix item_factors;
    AlignedFloats user_bias;
    AlignedFloats item_bias;
    // s_u of each user (positive): the model predicts s_u * f(z) on the
    // standardised scale, and SGD trains user u on its scores divided by s_u.
    AlignedFloats user_scale;
    float global_mean = 0.0f;

    // The implicit term (sgd/implicit.hpp): anime factors Y, each user's
    // weighted sum Z of the Y rows of their list, and the gradient G that
    // SGD accumulates for Z during an epoch. They have no rows until
    // enable_implicit(), which allocates them zeroed; the kernels train the
    // implicit term exactly when implicit_sums has rows.
    FactorMatrix implicit_items;
    FactorMatrix implicit_sums;
    FactorMatrix implicit_gradients;
    void enable_implicit();
    // Frees the three matrices; the user rows keep x_u + z_u, so
    // predictions do not change.
    void disable_implicit();
    bool implicit() const { return implicit_sums.rows() > 0; }
};

}  // namespace pyanimf
