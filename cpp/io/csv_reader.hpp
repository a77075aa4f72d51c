// Parser for ratings text: one user id, anime id and score per line.
//
// The input is the whole file, already decompressed, as one buffer. The
// parser accepts comma, tab, semicolon or "::" separated columns, an optional
// header line naming the columns, LF, CRLF or CR line ends, a UTF-8 BOM, blank
// lines and spaces around fields. Ids must be integers. A file with other ids
// (user names, for example) raises NonIntegerIdError so that the caller can
// retry with a parser that supports string ids.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// Parsed ratings, one entry per data line in file order.
struct RatingsColumns {
    std::vector<std::int64_t> user_ids;
    std::vector<std::int64_t> anime_ids;
    // NaN where the score equals the unrated marker ("on the list, not rated").
    std::vector<float> scores;
};

// Parse `text` into ratings columns.
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
// Throws RatingsParseError for malformed input and NonIntegerIdError for an
// id that is not an integer. An empty or header-only buffer returns empty
// columns.
RatingsColumns parse_ratings(std::string_view text, const std::string& source,
                             std::optional<double> unrated);

}  // namespace pyanimf::io
