// A std::vector whose resize() leaves new elements of trivial types
// uninitialized, for large buffers that threads fill in parallel.
#pragma once

#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace pyanimf {

// Allocator with which std::vector::resize() leaves new elements of trivial
// types uninitialized. A buffer that threads fill in parallel after sizing
// it would otherwise be zeroed first, which is wasted work, and the zeroing
// thread would take every page fault alone.
template <typename T>
class DefaultInitAllocator : public std::allocator<T> {
public:
    template <typename U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };

    DefaultInitAllocator() noexcept = default;
    template <typename U>
    DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}

    // Default-initialization: no value for trivial types.
    template <typename U>
    void construct(U* pointer) noexcept(std::is_nothrow_default_constructible_v<U>) {
        ::new (static_cast<void*>(pointer)) U;
    }
    template <typename U, typename... Args>
    void construct(U* pointer, Args&&... args) {
        ::new (static_cast<void*>(pointer)) U(std::forward<Args>(args)...);
    }
};

template <typename T>
using ColumnVector = std::vector<T, DefaultInitAllocator<T>>;

}  // namespace pyanimf
