// Cutting text into pieces at line starts, and counting their lines, so
// that threads can parse the pieces independently. A line ends at LF, CRLF
// or CR, and a CRLF pair is never split between two pieces.
#pragma once

#include <cstddef>
#include <vector>

namespace pyanimf::io {

// A half-open byte range [begin, end) of text.
struct TextRange {
    const char* begin;
    const char* end;
};

// Cut [begin, end), which starts at a line start, into `count` ranges of
// about equal size. Each cut moves forward to the next line start, so a
// range may be empty. The ranges are in order and cover [begin, end).
std::vector<TextRange> cut_at_line_starts(const char* begin, const char* end, std::size_t count);

// Count the lines that start in [begin, end), a range that starts at a line
// start: one per line break (CRLF counts once), plus one for a last line
// without a line break.
std::size_t count_lines(const char* begin, const char* end);

}  // namespace pyanimf::io
