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

// Rows whose (user, anime) pair appears again in a later row, in increasing
// order. Under the rule "the last row of a pair wins" these are the rows to
// drop. Time and memory are O(count). Memory is 8 bytes per row for the
// codes and 12 bytes per anime id, counting every id in their range when that
// range is at most `count` and only distinct ids otherwise. It is 8 bytes
// more per row when the rows of a user are not contiguous.
// Throws std::length_error like map_ids.
std::vector<std::int64_t> superseded_rows(const std::int64_t* users, const std::int64_t* anime,
                                          std::size_t count);

}  // namespace pyanimf::io
