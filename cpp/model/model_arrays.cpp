#include "model/model_arrays.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace pyanimf {

void AlignedDeleter::operator()(float* ptr) const noexcept { std::free(ptr); }

AlignedFloats allocate_aligned(std::size_t count, bool zeroed) {
    // aligned_alloc needs a size that is a multiple of the alignment, and
    // rejects zero on some C libraries.
    std::size_t bytes = count * sizeof(float);
    bytes = ((bytes + kRowAlignment - 1) / kRowAlignment) * kRowAlignment;
    if (bytes == 0) bytes = kRowAlignment;
    void* ptr = std::aligned_alloc(kRowAlignment, bytes);
    if (ptr == nullptr) throw std::bad_alloc();
    // One thread on purpose: Model.load allocates here, and GNU OpenMP hangs
    // in a process forked after the parent used it, as a server's workers are.
    if (zeroed) std::memset(ptr, 0, bytes);
    return AlignedFloats(static_cast<float*>(ptr));
}

FactorMatrix::FactorMatrix(std::size_t rows, std::size_t dim, bool zeroed)
    : rows_(rows),
      dim_(dim),
      stride_(((dim + kPadFloats - 1) / kPadFloats) * kPadFloats),
      data_(allocate_aligned(rows * stride_, zeroed)) {}

ModelArrays::ModelArrays(std::size_t n_users, std::size_t n_items, std::size_t dim, bool zeroed_factors)
    : user_factors(n_users, dim, zeroed_factors),
      item_factors(n_items, dim, zeroed_factors),
      user_bias(allocate_aligned(n_users)),
      item_bias(allocate_aligned(n_items)) {}

}  // namespace pyanimf
