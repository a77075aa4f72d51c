#include "io/line_chunks.hpp"

#include <algorithm>
#include <cstdint>

namespace pyanimf::io {
namespace {

inline bool is_line_break(char c) { return c == '\n' || c == '\r'; }

// The first line start at or after `p`, or `end` when no line starts there.
// `begin` is a line start, so `p` is one when it follows a line break,
// except between the CR and the LF of a CRLF pair.
const char* next_line_start(const char* p, const char* begin, const char* end) {
    if (p <= begin) return begin;
    if (p >= end) return end;
    if (p[-1] == '\n' || (p[-1] == '\r' && *p != '\n')) return p;
    while (p < end && !is_line_break(*p)) ++p;
    if (p < end && *p == '\r') {
        ++p;
        if (p < end && *p == '\n') ++p;
    } else if (p < end) {
        ++p;
    }
    return p;
}

}  // namespace

std::vector<TextRange> cut_at_line_starts(const char* begin, const char* end, std::size_t count) {
    count = std::max<std::size_t>(count, 1);
    const auto size = static_cast<std::size_t>(end - begin);
    std::vector<TextRange> ranges;
    ranges.reserve(count);
    const char* start = begin;
    for (std::size_t k = 1; k <= count; ++k) {
        // Rounded in double: the cut needs only to be monotonic, not exact,
        // and size * k could overflow std::size_t.
        const double nominal = static_cast<double>(size) * static_cast<double>(k) / static_cast<double>(count);
        const std::size_t offset = std::min(size, static_cast<std::size_t>(nominal));
        const char* stop = k == count ? end : std::max(start, next_line_start(begin + offset, begin, end));
        ranges.push_back(TextRange{start, stop});
        start = stop;
    }
    return ranges;
}

std::size_t count_lines(const char* begin, const char* end) {
    // Byte counters in blocks of at most 255 bytes cannot overflow, and let
    // the compiler compare 16 or more bytes per instruction.
    std::size_t line_feeds = 0;
    std::size_t carriage_returns = 0;
    const char* p = begin;
    while (p < end) {
        const auto block = static_cast<std::size_t>(std::min<std::ptrdiff_t>(end - p, 255));
        std::uint8_t block_line_feeds = 0;
        std::uint8_t block_carriage_returns = 0;
        for (std::size_t i = 0; i < block; ++i) {
            block_line_feeds = static_cast<std::uint8_t>(block_line_feeds + (p[i] == '\n'));
            block_carriage_returns = static_cast<std::uint8_t>(block_carriage_returns + (p[i] == '\r'));
        }
        line_feeds += block_line_feeds;
        carriage_returns += block_carriage_returns;
        p += block;
    }

    std::size_t breaks = line_feeds + carriage_returns;
    if (carriage_returns > 0) {
        // A CRLF pair is one line break, not two. No pair straddles `end`,
        // because ranges end at line starts.
        for (const char* q = begin; q + 1 < end; ++q) {
            if (q[0] == '\r' && q[1] == '\n') --breaks;
        }
    }
    if (begin < end && !is_line_break(end[-1])) ++breaks;
    return breaks;
}

}  // namespace pyanimf::io
