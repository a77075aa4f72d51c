#include "model/model_arrays.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

namespace pyanimf {
namespace {

// Bytes zeroed by one thread at a time in allocate_aligned.
constexpr std::size_t kZeroSliceBytes = std::size_t{8} << 20;

}  // namespace

void AlignedDeleter::operator()(float* ptr) const noexcept { std::free(ptr); }

AlignedFloats allocate_aligned(std::size_t count) {
    // aligned_alloc needs a size that is a multiple of the alignment, and
    // rejects zero on some C libraries.
    std::size_t bytes = count * sizeof(float);
    bytes = ((bytes + kRowAlignment - 1) / kRowAlignment) * kRowAlignment;
    if (bytes == 0) bytes = kRowAlignment;
    void* ptr = std::aligned_alloc(kRowAlignment, bytes);
    if (ptr == nullptr) throw std::bad_alloc();
    // Zeroed in slices on OpenMP's default team, so that large buffers take
    // their first page faults on several cores.
    const auto slices = static_cast<std::int64_t>((bytes + kZeroSliceBytes - 1) / kZeroSliceBytes);
    auto* base = static_cast<char*>(ptr);
#pragma omp parallel for schedule(static) if (slices > 1)
    for (std::int64_t slice = 0; slice < slices; ++slice) {
        const std::size_t begin = static_cast<std::size_t>(slice) * kZeroSliceBytes;
        std::memset(base + begin, 0, std::min(kZeroSliceBytes, bytes - begin));
    }
    return AlignedFloats(static_cast<float*>(ptr));
}

FactorMatrix::FactorMatrix(std::size_t rows, std::size_t dim)
    : rows_(rows),
      dim_(dim),
      stride_(((dim + kPadFloats - 1) / kPadFloats) * kPadFloats),
      data_(allocate_aligned(rows * stride_)) {}

ModelArrays::ModelArrays(std::size_t n_users, std::size_t n_items, std::size_t dim)
    : user_factors(n_users, dim),
      item_factors(n_items, dim),
      user_bias(allocate_aligned(n_users)),
      item_bias(allocate_aligned(n_items)) {}

}  // namespace pyanimf
