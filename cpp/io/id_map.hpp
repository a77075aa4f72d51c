// Mapping of 32-bit or 64-bit integer ids to compact 32-bit codes. Each
// function is defined for Id = std::int32_t and Id = std::int64_t.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/uninitialized_vector.hpp"

namespace pyanimf::io {

struct IdMapping {
    // codes[i] is the code of ids[i]: its position in `uniques`.
    ColumnVector<std::int32_t> codes;
    // Each distinct id once, in order of first appearance, widened to 64 bits.
    std::vector<std::int64_t> uniques;
};

// Map each id to a code 0..k-1, numbered in order of first appearance.
// Ids that span at most `count` values, fewer than 2^26, are mapped through
// a table on up to `threads` threads. Each thread has a table of one byte per
// value in the span, and only as many threads run as leave the tables no
// larger than a byte per row. Other ids go through a hash table on one thread.
// The codes do not depend on the thread count. With `codes_out` given, the
// codes go there (count entries) and `codes` stays empty; `codes_out` may be
// `ids` itself when Id is std::int32_t, which overwrites the ids.
// Throws std::length_error when there are more than 2^31 - 1 distinct ids,
// and std::invalid_argument when `threads` is below 1.
template <typename Id>
IdMapping map_ids(const Id* ids, std::size_t count, int threads = 1, std::int32_t* codes_out = nullptr);

// Rows whose (user, anime) pair appears again in a later row, in increasing
// order. Under the rule "the last row of a pair wins" these are the rows to
// drop. Time and memory are O(count).
//
// The common case is searched in place on up to `threads` threads: user ids
// that never decrease, and anime ids whose max - min is at most `count` and
// below 2^26. Each thread then needs a table of 8 bytes per value from min
// to max. Otherwise, on one thread, memory is 8 bytes per row for the codes and 12
// bytes per anime id, counting every id in their range when that range is at
// most `count` and only distinct ids otherwise. It is 8 bytes more per row
// when the rows of a user are not contiguous.
// Throws std::length_error like map_ids, and std::invalid_argument when
// `threads` is below 1.
template <typename Id>
std::vector<std::int64_t> superseded_rows(const Id* users, const Id* anime, std::size_t count, int threads = 1);

}  // namespace pyanimf::io
