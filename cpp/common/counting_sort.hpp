// Pieces of a stable counting sort that threads share. Each thread counts
// the keys of one contiguous part of the input. It then places its rows of
// each key after those of the parts before it, so the result is that of a
// sequential pass whatever the number of parts.
#pragma once

#include <algorithm>
#include <cstddef>

namespace pyanimf {

// The input rows [0, count) cut into contiguous parts of about equal size:
// at most `threads` parts, each of at least `min_rows` rows, and no more
// counters (parts times keys) than rows.
class RowParts {
  public:
    RowParts(std::size_t count, std::size_t keys, int threads, std::size_t min_rows)
        : count_(count),
          parts_(std::max<std::size_t>(1, std::min({static_cast<std::size_t>(threads), count / min_rows,
                                                     count / std::max<std::size_t>(keys, 1)}))) {}

    std::size_t size() const { return parts_; }
    std::size_t begin(std::size_t part) const { return count_ / parts_ * part + std::min(part, count_ % parts_); }
    std::size_t end(std::size_t part) const { return begin(part + 1); }

  private:
    std::size_t count_;
    std::size_t parts_;
};

// Turns the counts of each part (part-major: parts x keys) into that part's
// first slot for each key, and writes each key's first slot to
// key_begin[0..keys) and the total to key_begin[keys].
template <typename Count, typename Offset>
void counts_to_slots(Count* part_counts, std::size_t parts, std::size_t keys, Offset* key_begin) {
    Count next = 0;
    for (std::size_t key = 0; key < keys; ++key) {
        key_begin[key] = static_cast<Offset>(next);
        for (std::size_t part = 0; part < parts; ++part) {
            const Count counted = part_counts[part * keys + key];
            part_counts[part * keys + key] = next;
            next += counted;
        }
    }
    key_begin[keys] = static_cast<Offset>(next);
}

}  // namespace pyanimf
