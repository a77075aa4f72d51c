#include "sgd/score_summary.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

namespace pyanimf {
namespace {

constexpr std::size_t kChunk = std::size_t{1} << 16;

struct ChunkSums {
    std::size_t count = 0;
    double sum = 0.0;
    double squares = 0.0;  // sum of squared deviations from the mean (second pass)
    float low = INFINITY;
    float high = -INFINITY;
};

// Calls visit(sums of the chunk, score) for every score that is not NaN,
// the chunks shared among `threads` threads.
template <typename Visit>
void for_each_score(const float* scores, std::size_t count, std::vector<ChunkSums>& chunks, int threads,
                    Visit visit) {
    const auto n_chunks = static_cast<std::int64_t>(chunks.size());
#pragma omp parallel for num_threads(threads) schedule(static)
    for (std::int64_t c = 0; c < n_chunks; ++c) {
        ChunkSums& sums = chunks[c];
        const std::size_t end = std::min(count, static_cast<std::size_t>(c + 1) * kChunk);
        for (std::size_t k = static_cast<std::size_t>(c) * kChunk; k < end; ++k) {
            if (!std::isnan(scores[k])) visit(sums, scores[k]);
        }
    }
}

}  // namespace

ScoreSummary summarise_scores(const float* scores, std::size_t count, int threads) {
    std::vector<ChunkSums> chunks((count + kChunk - 1) / kChunk);
    for_each_score(scores, count, chunks, threads, [](ChunkSums& sums, float score) {
        ++sums.count;
        sums.sum += score;
        sums.low = std::min(sums.low, score);
        sums.high = std::max(sums.high, score);
    });
    ScoreSummary summary;
    double total = 0.0;
    summary.low = INFINITY;
    summary.high = -INFINITY;
    for (const ChunkSums& sums : chunks) {
        summary.count += sums.count;
        total += sums.sum;
        summary.low = std::min(summary.low, sums.low);
        summary.high = std::max(summary.high, sums.high);
    }
    if (summary.count == 0) return ScoreSummary{};
    summary.mean = total / static_cast<double>(summary.count);

    // Deviations from the mean in a second pass: one pass of sums of squares
    // loses digits when the mean is large against the spread.
    const double mean = summary.mean;
    for_each_score(scores, count, chunks, threads, [mean](ChunkSums& sums, float score) {
        const double deviation = score - mean;
        sums.squares += deviation * deviation;
    });
    double squares = 0.0;
    for (const ChunkSums& sums : chunks) squares += sums.squares;
    summary.std_dev = std::sqrt(squares / static_cast<double>(summary.count));
    return summary;
}

}  // namespace pyanimf
