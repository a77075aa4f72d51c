// Parser for ratings text: one user id, anime id and score per line.
//
// The input is the whole file, already decompressed, as one buffer. The
// parser accepts comma, tab, semicolon or "::" separated columns, an optional
// header line naming the columns, LF, CRLF or CR line ends, a UTF-8 BOM, blank
// lines and spaces around fields. Ids must be integers. A file with other ids
// (user names, for example) raises NonIntegerIdError so that the caller can
// retry with a parser that supports string ids.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/uninitialized_vector.hpp"

namespace pyanimf::io {

// A buffer that cannot be read as ratings. The message names the source, the
// 1-based line, the column, the value and the fix.
class RatingsParseError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// A user or anime id that is not an integer. The data may still be valid
// ratings with string ids, so the caller should retry with a parser that
// supports them instead of reporting this as an error.
class NonIntegerIdError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// The id columns of parsed ratings.
template <typename Id>
struct IdColumns {
    ColumnVector<Id> user_ids;
    ColumnVector<Id> anime_ids;
};

// Parsed ratings, one entry per data line in file order. Ids take 32 bits
// when every user id and anime id of the file fits in 32 bits, which halves
// their memory, and 64 bits otherwise.
struct RatingsColumns {
    std::variant<IdColumns<std::int32_t>, IdColumns<std::int64_t>> ids;
    // NaN where the score equals the unrated marker ("on the list, not rated").
    ColumnVector<float> scores;
};

// Data lines shorter than this many bytes per thread are cut into fewer
// chunks. A round figure: one core of the development machine parses 1 MiB
// in about 1.3 ms, far longer than starting a thread takes.
constexpr std::size_t kMinChunkBytes = std::size_t{1} << 20;

// Larger data lines are cut into more chunks than threads, of at most about
// this size, which the threads take in file order.
constexpr std::size_t kMaxDefaultChunkBytes = std::size_t{8} << 20;

// Parse `text` into ratings columns on up to `threads` threads.
//
// `source` names the input in error messages (usually the file path).
// A score exactly equal to `unrated` (compared as a double) is stored as NaN.
// With no marker, every score is stored as read.
//
// The first non-blank line is a header when any of its fields is not a
// number. Header columns are found by name, case-insensitively: user
// (user_id, userId, user, uid, username), anime (anime_id, animeId, item_id,
// itemId, item, anime, movie_id, movieId, iid) and score (rating, score,
// my_score, rating_value). Other columns are ignored. Without a header the
// first three columns are user id, anime id and score. A first line that
// names none of these columns but has a numeric field is read as data (a
// headerless file with string ids, or a data line with an invalid value).
//
// The data lines after the header are cut at line starts into `chunks`
// chunks of about equal size, and each thread parses whole chunks, taking
// them in file order. With `chunks` 0 there is one chunk per thread or one
// per kMaxDefaultChunkBytes, whichever gives more, and fewer for data lines
// under kMinChunkBytes per thread. Neither argument changes the result, and
// an error is always the one on the first bad line of the file, as a parse
// on one thread reports it.
//
// The text is read twice: once to count each chunk's lines, then to parse.
// With `release_text`, each chunk's memory pages are released after each
// pass over it (common/page_release.hpp), so a file mapped into `text` has
// only the chunks in progress counted in the process's memory. Pass it for
// a read-only file mapping only: other memory reads as zeros afterwards,
// and a file with an id too wide for 32 bits is read again from the start.
//
// Throws RatingsParseError for malformed input and NonIntegerIdError for an
// id that is not an integer. An empty or header-only buffer returns empty
// columns. Throws std::invalid_argument when `threads` is below 1.
RatingsColumns parse_ratings(std::string_view text, const std::string& source,
                             std::optional<double> unrated, int threads = 1, std::size_t chunks = 0,
                             bool release_text = false);

}  // namespace pyanimf::io
