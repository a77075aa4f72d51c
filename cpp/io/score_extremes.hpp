// The highest and lowest score of a ratings column and the scores next to
// them, found without copies. load_ratings uses them to warn about an
// isolated score, such as a 100 in a file of 1-10 scores.
#pragma once

#include <cstddef>

namespace pyanimf::io {

// One end of the scores: the highest or the lowest.
struct ScoreEnd {
    float value = 0.0f;         // the highest (or lowest) score
    std::size_t count = 0;      // rows with that score
    std::size_t first_row = 0;  // the first of them
    // The closest other score: the highest below the maximum, or the lowest
    // above the minimum. Meaningful only when has_next is true, which is
    // when the scores are not all equal.
    float next = 0.0f;
    bool has_next = false;
};

struct ScoreExtremes {
    std::size_t scored = 0;  // scores that are not NaN; the ends below are set when it is above 0
    ScoreEnd highest;
    ScoreEnd lowest;
};

// Scan `scores` on up to `threads` threads, skipping NaN. Scores that
// compare equal (0.0 and -0.0) are one score, and `value` is the first of
// them in the column. The result does not depend on `threads`.
ScoreExtremes find_score_extremes(const float* scores, std::size_t count, int threads = 1);

}  // namespace pyanimf::io
