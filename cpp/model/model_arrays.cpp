#include "model/model_arrays.hpp"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

namespace pyanimf {

namespace {

// The size of an x86-64 huge page. Buffers at least this large get huge
// pages where Linux allows it, because SGD reads rows all over the factor
// matrices and fewer, larger pages mean fewer TLB misses.
constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

std::size_t round_up(std::size_t bytes, std::size_t multiple) {
    return ((bytes + multiple - 1) / multiple) * multiple;
}

// Asks for transparent huge pages before the buffer is first touched. The
// advice is optional: where THP is off or the call fails, the kernel keeps
// 4 KiB pages, so the result is not checked.
void advise_huge_pages(void* ptr, std::size_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    madvise(ptr, bytes, MADV_HUGEPAGE);
#else
    static_cast<void>(ptr);
    static_cast<void>(bytes);
#endif
}

}  // namespace

void AlignedDeleter::operator()(float* ptr) const noexcept { std::free(ptr); }

AlignedFloats allocate_aligned(std::size_t count, bool zeroed) {
    // aligned_alloc needs a size that is a multiple of the alignment, and
    // rejects zero on some C libraries.
    std::size_t bytes = round_up(count * sizeof(float), kRowAlignment);
    if (bytes == 0) bytes = kRowAlignment;
    // Large buffers start and end on huge-page boundaries, so no 4 KiB page
    // at either end is left out of the huge pages. This adds less than 2 MiB.
    const bool huge = bytes >= kHugePageBytes;
    if (huge) bytes = round_up(bytes, kHugePageBytes);
    void* ptr = std::aligned_alloc(huge ? kHugePageBytes : kRowAlignment, bytes);
    if (ptr == nullptr) throw std::bad_alloc();
    if (huge) advise_huge_pages(ptr, bytes);
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
      item_bias(allocate_aligned(n_items)),
      user_scale(allocate_aligned(n_users, false)),
      implicit_items(0, dim),
      implicit_sums(0, dim),
      implicit_gradients(0, dim) {
    std::fill(user_scale.get(), user_scale.get() + n_users, 1.0f);
}

void ModelArrays::enable_implicit() {
    const std::size_t dim = user_factors.dim();
    implicit_items = FactorMatrix(item_factors.rows(), dim);
    implicit_sums = FactorMatrix(user_factors.rows(), dim);
    implicit_gradients = FactorMatrix(user_factors.rows(), dim);
}

void ModelArrays::disable_implicit() {
    const std::size_t dim = user_factors.dim();
    implicit_items = FactorMatrix(0, dim);
    implicit_sums = FactorMatrix(0, dim);
    implicit_gradients = FactorMatrix(0, dim);
}

}  // namespace pyanimf
