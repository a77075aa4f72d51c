// A small seeded random generator with results that are the same on every
// platform and standard library (std::shuffle and the std distributions are
// not), so a seed gives the same model everywhere.
#pragma once

#include <cstdint>
#include <cstddef>
#include <utility>

namespace pyanimf {

// SplitMix64 (Steele, Lea and Flood, "Fast splittable pseudorandom number
// generators", OOPSLA 2014).
class SplitMix64 {
  public:
    explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

    std::uint64_t next() {
        std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }

    // Uniform integer in [0, bound); bound > 0. The modulo bias is below
    // 2^-32 for the bounds used here (at most a few billion).
    std::uint64_t below(std::uint64_t bound) { return next() % bound; }

  private:
    std::uint64_t state_;
};

// An independent stream for one (seed, stream) pair.
inline SplitMix64 make_stream(std::uint64_t seed, std::uint64_t stream) {
    SplitMix64 mixer(seed ^ (stream * 0xD1B54A32D192ED03ULL));
    return SplitMix64(mixer.next());
}

// Fisher-Yates shuffle of values[0..count) driven by `rng`.
template <typename T>
void shuffle(T* values, std::size_t count, SplitMix64& rng) {
    for (std::size_t k = count; k > 1; --k) {
        std::swap(values[k - 1], values[rng.below(k)]);
    }
}

}  // namespace pyanimf
