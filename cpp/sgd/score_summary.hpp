// Count, mean, standard deviation and range of the training scores, which
// fit uses to standardise them, computed without copies.
#pragma once

#include <cstddef>

namespace pyanimf {

struct ScoreSummary {
    std::size_t count = 0;  // scores that are not NaN; the fields below are set when it is above 0
    double mean = 0.0;
    double std_dev = 0.0;  // population standard deviation
    float low = 0.0f;
    float high = 0.0f;
};

// Summarises `scores`, skipping NaN, on up to `threads` threads. Sums run in
// double over fixed chunks that are added in order, so the result does not
// depend on `threads`.
ScoreSummary summarise_scores(const float* scores, std::size_t count, int threads = 1);

}  // namespace pyanimf
