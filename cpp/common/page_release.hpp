// Gives the memory of input that is no longer needed back to the operating
// system while a larger job goes on, so that a copy into a new layout does
// not hold both layouts in full at its peak.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace pyanimf {

// Drops the whole memory pages that lie inside [begin, end). Their contents
// are lost: reading them afterwards gives zeros (or the file's contents for
// a file mapping). Pages shared with memory outside the range are kept, so
// this is safe on any buffer the caller owns. Does nothing where the system
// offers no such call, and ignores a failure, since the memory then stays
// counted but valid.
inline void release_pages(const void* begin, const void* end) {
#if defined(__linux__)
    static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    const auto first = (reinterpret_cast<std::uintptr_t>(begin) + page - 1) / page * page;
    const auto last = reinterpret_cast<std::uintptr_t>(end) / page * page;
    if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
#else
    static_cast<void>(begin);
    static_cast<void>(end);
#endif
}

// Releases a column that one thread reads from front to back, a stretch at
// a time, as the reader passes each stretch.
template <typename T>
class ReleasingReader {
  public:
    // Reads start at index `begin`. With `enabled` false, nothing is released.
    ReleasingReader(const T* data, std::size_t begin, bool enabled)
        : data_(data), from_(data + begin), next_(begin + kStretch), enabled_(enabled) {}

    // Everything before index `done` has been read for the last time.
    void passed(std::size_t done) {
        if (enabled_ && done >= next_) release_up_to(done);
    }
    // The reader is done with everything before index `end`.
    void finish(std::size_t end) {
        if (enabled_) release_up_to(end);
    }

  private:
    // Elements between two releases: about 1 MiB for 4-byte values.
    static constexpr std::size_t kStretch = std::size_t{1} << 18;

    void release_up_to(std::size_t done) {
        release_pages(from_, data_ + done);
        // The page that holds `done` is not released yet; the next call starts there.
        from_ = page_start(data_ + done);
        next_ = done + kStretch;
    }
    static const void* page_start(const T* at) {
#if defined(__linux__)
        static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
        return reinterpret_cast<const void*>(reinterpret_cast<std::uintptr_t>(at) / page * page);
#else
        return at;
#endif
    }

    const T* data_;
    const void* from_;
    std::size_t next_;
    bool enabled_;
};

}  // namespace pyanimf
