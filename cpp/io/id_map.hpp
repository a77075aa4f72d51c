// Mapping of 64-bit ids to compact 32-bit codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pyanimf::io {

struct IdMapping {
    // codes[i] is the code of ids[i]: its position in `uniques`.
    std::vector<std::int32_t> codes;
    // Each distinct id once, in order of first appearance.
    std::vector<std::int64_t> uniques;
};

// Map each id to a code 0..k-1, numbered in order of first appearance.
// Throws std::length_error when there are more than 2^31 - 1 distinct ids.
IdMapping map_ids(const std::int64_t* ids, std::size_t count);

}  // namespace pyanimf::io
