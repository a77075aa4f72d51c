// Parser of ratings text. See csv_reader.hpp for the accepted format.
//
// After the first line sets the layout, the data lines are cut into chunks
// at line starts. One pass counts each chunk's lines, which sizes the
// output and numbers the lines. A second pass parses each chunk into its
// own part of the output, the chunks on parallel threads.
//
// The hot loop parses each field in place with no copy and no allocation: ids
// with a digit loop, scores with a digit loop plus one correctly rounded
// division. Anything unusual in a field (quotes, exponents, long numbers,
// errors) goes to a slow path that re-reads just that field. Error messages
// are built only on the slow path. The Python fallback parser in
// pyanimf/ratings.py writes the same messages, so change both together.
#include "io/csv_reader.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <limits>
#include <system_error>
#include <type_traits>

#include "common/page_release.hpp"
#include "io/line_chunks.hpp"

#if defined(__GNUC__)
#define PYANIMF_ALWAYS_INLINE __attribute__((always_inline))
#else
#define PYANIMF_ALWAYS_INLINE
#endif

namespace pyanimf::io {
namespace {

// Values longer than this many characters are cut in error messages.
constexpr std::size_t kMaxShownChars = 40;
// A NUL byte this close to the start means UTF-16 (or UTF-32) text.
constexpr std::size_t kUtf16ProbeBytes = 4096;

constexpr std::array<std::string_view, 5> kUserColumnNames = {
    "user_id", "userId", "user", "uid", "username"};
constexpr std::array<std::string_view, 9> kAnimeColumnNames = {
    "anime_id", "animeId", "item_id", "itemId", "item", "anime", "movie_id", "movieId", "iid"};
constexpr std::array<std::string_view, 4> kScoreColumnNames = {
    "rating", "score", "my_score", "rating_value"};

enum class Role : std::uint8_t { kIgnore, kUser, kAnime, kScore };

const char* role_noun(Role role) {
    switch (role) {
        case Role::kUser: return "user id";
        case Role::kAnime: return "anime id";
        case Role::kScore: return "score";
        case Role::kIgnore: break;
    }
    return "ignored";
}

struct Separator {
    char first = ',';       // ',', '\t', ';' or ':'
    std::size_t size = 1;   // 2 for "::"

    std::string_view text() const { return size == 2 ? "::" : std::string_view(&first, 1); }

    std::string label() const {
        if (first == '\t') return "tab";
        return "'" + std::string(text()) + "'";
    }
};

// Candidates in tie-break order: on equal counts in the first line, the earlier one wins.
constexpr std::array<Separator, 4> kSeparators = {
    Separator{',', 1}, Separator{'\t', 1}, Separator{';', 1}, Separator{':', 2}};

// ---- Text helpers ---------------------------------------------------------

inline bool is_line_break(char c) { return c == '\n' || c == '\r'; }

inline bool is_digit(char c) { return static_cast<unsigned char>(c - '0') < 10; }

const char* find_line_end(const char* p, const char* end) {
    while (p < end && !is_line_break(*p)) ++p;
    return p;
}

// Move past one line break (LF, CRLF or CR) at `p`, if there is one.
inline const char* skip_line_break(const char* p, const char* end) {
    if (p < end && *p == '\r') {
        ++p;
        if (p < end && *p == '\n') ++p;
    } else if (p < end && *p == '\n') {
        ++p;
    }
    return p;
}

std::string_view trim_spaces(std::string_view s) {
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
    return s;
}

// Trim spaces, then remove one pair of double quotes around a field that
// contains no other quote, and trim again.
std::string_view unquote(std::string_view s) {
    s = trim_spaces(s);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"' &&
        s.substr(1, s.size() - 2).find('"') == std::string_view::npos) {
        s = trim_spaces(s.substr(1, s.size() - 2));
    }
    return s;
}

// A line of only spaces and tabs holds no data, whatever the separator.
bool is_blank(std::string_view line) { return line.find_first_not_of(" \t") == std::string_view::npos; }

bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

std::size_t count_occurrences(std::string_view text, std::string_view needle) {
    std::size_t count = 0;
    for (std::size_t pos = text.find(needle); pos != std::string_view::npos;
         pos = text.find(needle, pos + needle.size())) {
        ++count;
    }
    return count;
}

std::vector<std::string_view> split_fields(std::string_view line, const Separator& sep) {
    std::vector<std::string_view> fields;
    std::size_t start = 0;
    for (;;) {
        std::size_t pos = line.find(sep.text(), start);
        if (pos == std::string_view::npos) {
            fields.push_back(line.substr(start));
            return fields;
        }
        fields.push_back(line.substr(start, pos - start));
        start = pos + sep.size;
    }
}

// Scan a run of ASCII digits starting at `i`, returning the index after it.
std::size_t scan_digits(std::string_view s, std::size_t i) {
    while (i < s.size() && is_digit(s[i])) ++i;
    return i;
}

// A decimal number: [+-] digits [. digits] or [+-] . digits, then an optional
// exponent. Used to tell a header from data.
bool is_number(std::string_view s) {
    std::size_t i = 0;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    const std::size_t int_end = scan_digits(s, i);
    std::size_t digits = int_end - i;
    i = int_end;
    if (i < s.size() && s[i] == '.') {
        const std::size_t frac_end = scan_digits(s, i + 1);
        digits += frac_end - (i + 1);
        i = frac_end;
    }
    if (digits == 0) return false;
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        const std::size_t exp_end = scan_digits(s, i);
        if (exp_end == i) return false;
        i = exp_end;
    }
    return i == s.size();
}

// An optional '-' and one or more digits.
bool is_integer_text(std::string_view s) {
    const std::size_t start = (!s.empty() && s[0] == '-') ? 1 : 0;
    return s.size() > start && scan_digits(s, start) == s.size();
}

// An optional sign, digits, '.', digits: an id written by a float column.
bool is_float_formatted(std::string_view s) {
    std::size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    const std::size_t int_end = scan_digits(s, i);
    if (int_end == i || int_end >= s.size() || s[int_end] != '.') return false;
    const std::size_t frac_end = scan_digits(s, int_end + 1);
    return frac_end > int_end + 1 && frac_end == s.size();
}

// Digits, a comma, digits: a number written with a decimal comma.
bool has_decimal_comma(std::string_view s) {
    const std::size_t comma = s.find(',');
    if (comma == std::string_view::npos || comma == 0) return false;
    std::size_t start = (s[0] == '+' || s[0] == '-') ? 1 : 0;
    return scan_digits(s, start) == comma && comma > start && comma + 1 < s.size() &&
           scan_digits(s, comma + 1) == s.size();
}

// Length of the valid UTF-8 sequence at s[i], or 0 if the bytes there are not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char lead = byte(i);
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;  // allowed range of the second byte
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0) low = 0xA0;
        if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0) low = 0x90;
        if (lead == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if (i + length > s.size()) return 0;
    if (byte(i + 1) < low || byte(i + 1) > high) return 0;
    for (std::size_t k = 2; k < length; ++k) {
        if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
    }
    return length;
}

// Quote a value for an error message: control characters and invalid UTF-8
// bytes become \xNN, and values over kMaxShownChars characters are cut.
std::string show_value(std::string_view raw) {
    std::string out = "'";
    std::size_t chars = 0;
    std::size_t i = 0;
    while (i < raw.size()) {
        if (chars == kMaxShownChars) {
            out += "...";
            break;
        }
        const unsigned char c = static_cast<unsigned char>(raw[i]);
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
            ++i;
        } else if (const std::size_t n = utf8_sequence_length(raw, i); c >= 0x80 && n > 0) {
            out.append(raw.substr(i, n));
            i += n;
        } else {
            char escaped[5];
            std::snprintf(escaped, sizeof escaped, "\\x%02x", c);
            out += escaped;
            ++i;
        }
        ++chars;
    }
    out += "'";
    return out;
}

std::string format_marker(double marker) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", marker);
    return text;
}

std::string join_names(const std::string_view* names, std::size_t count) {
    std::string out;
    for (std::size_t i = 0; i < count; ++i) {
        if (i > 0) out += ", ";
        out += names[i];
    }
    return out;
}

// "a", "a or b", "a, b or c"
std::string join_alternatives(const std::vector<std::string>& items) {
    std::string out;
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += (i + 1 == items.size()) ? " or " : ", ";
        out += items[i];
    }
    return out;
}

void reject_utf16(std::string_view text, const std::string& source) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
    const bool has_bom =
        text.size() >= 2 && ((byte(0) == 0xFF && byte(1) == 0xFE) || (byte(0) == 0xFE && byte(1) == 0xFF));
    if (has_bom) {
        throw RatingsParseError(source + " looks like UTF-16 (it starts with a UTF-16 byte-order mark); "
                                         "save it as UTF-8");
    }
    if (text.substr(0, kUtf16ProbeBytes).find('\0') != std::string_view::npos) {
        throw RatingsParseError(source + " looks like UTF-16 (it contains NUL bytes); save it as UTF-8");
    }
}

// ---- Parser -----------------------------------------------------------------

// A piece of the data lines, parsed by one thread.
struct Chunk {
    TextRange text{nullptr, nullptr};
    std::size_t lines = 0;         // lines that start in `text`
    std::size_t lines_before = 0;  // lines of the file before `text`
    std::size_t first_row = 0;     // output index of its first row, before blank lines are closed up
    std::size_t rows = 0;          // rows parsed: `lines` less the blank lines
    std::exception_ptr error;      // the error on its first bad line, if any
};

// Output positions of the next parsed row.
template <typename Id>
struct RowCursor {
    Id* user_ids;
    Id* anime_ids;
    float* scores;
};

// Thrown by a parse into 32-bit id columns at the first id that does not
// fit, so that the file is parsed again into 64-bit columns.
struct WideIdsNeeded {};

template <typename Id>
inline bool fits(std::int64_t id) {
    return static_cast<std::int64_t>(static_cast<Id>(id)) == id;
}

class Parser {
public:
    Parser(std::string_view text, const std::string& source, std::optional<double> unrated, bool release_text)
        : begin_(text.data()),
          end_(text.data() + text.size()),
          source_(source),
          unrated_(unrated),
          release_text_(release_text) {}

    RatingsColumns run(int threads, std::size_t chunk_count);

private:
    void detect_separator(std::string_view first_line, std::size_t line);
    // Decide whether the first line is a header and which column contains
    // which field. Returns true when the first line is a header.
    bool resolve_columns(std::string_view first_line, std::size_t line);
    std::string column_label(std::size_t column) const;
    std::string score_hint() const;
    // Parse the data lines, which start at `data_start` after `lines_before_data` lines.
    // With Id = std::int32_t, throws WideIdsNeeded at an id that does not fit.
    template <typename Id>
    RatingsColumns parse_data(const char* data_start, std::size_t lines_before_data, int threads,
                              std::size_t chunk_count) const;
    // Release the pages of `text` when the caller allowed it.
    void release(TextRange text) const {
        if (release_text_) release_pages(text.begin, text.end);
    }
    // Parse the rows of `chunk` into `out` from index chunk.first_row, and set chunk.rows.
    template <typename Id>
    void parse_chunk(Chunk& chunk, RowCursor<Id> out) const;

    // kUserAnimeScore: the columns are exactly user id, anime id, score.
    template <std::size_t SepSize, bool kUserAnimeScore, typename Id>
    std::size_t parse_rows(TextRange text, std::size_t line, RowCursor<Id> out) const;
    // Parse the rows that start before `stop`; `line` is the last line number read.
    template <std::size_t SepSize, bool kUserAnimeScore, bool kChecked, typename Id>
    const char* parse_row_range(const char* p, const char* stop, std::size_t& line, RowCursor<Id>& out) const;
    template <std::size_t SepSize>
    const char* find_field_end(const char* p) const;
    template <std::size_t SepSize>
    const char* parse_id_slow(const char* field, std::size_t line, const char* line_start,
                              std::size_t column, std::int64_t& value) const;
    template <std::size_t SepSize>
    const char* parse_score_slow(const char* field, std::size_t line, const char* line_start,
                                 std::size_t column, float& value, double& exact) const;

    [[noreturn]] void fail_line(std::size_t line, const std::string& problem) const;
    [[noreturn]] void fail_field(std::size_t line, const char* line_start, std::size_t column,
                                 const std::string& problem) const;
    void check_field_count(std::size_t line, const char* line_start) const;
    [[noreturn]] void fail_field_count(std::size_t line, const char* line_start) const;
    [[noreturn]] void fail_other_field_count(std::size_t line, const char* line_start) const;

    const char* begin_;
    const char* end_;
    const std::string& source_;
    std::optional<double> unrated_;
    bool release_text_;  // release each chunk's pages after each pass over it
    Separator sep_;
    bool has_header_ = false;
    std::vector<Role> roles_;                // role of each column up to the last one needed
    std::size_t first_line_fields_ = 0;       // every line must have as many fields as the first
    std::vector<std::string> header_fields_;  // trimmed header names, for messages
};

RatingsColumns Parser::run(int threads, std::size_t chunk_count) {
    const std::string_view text(begin_, static_cast<std::size_t>(end_ - begin_));
    reject_utf16(text, source_);

    const char* p = begin_;
    if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF &&
        static_cast<unsigned char>(text[1]) == 0xBB && static_cast<unsigned char>(text[2]) == 0xBF) {
        p += 3;
    }

    // Find the first non-blank line: the header, or the first data line.
    std::size_t line = 0;
    const char* first_start = nullptr;
    const char* first_end = nullptr;
    while (p < end_) {
        ++line;
        const char* line_end = find_line_end(p, end_);
        if (!is_blank(std::string_view(p, static_cast<std::size_t>(line_end - p)))) {
            first_start = p;
            first_end = line_end;
            break;
        }
        p = skip_line_break(line_end, end_);
    }
    if (first_start == nullptr) return RatingsColumns{};  // empty: the caller reports "no ratings"

    const std::string_view first_line(first_start, static_cast<std::size_t>(first_end - first_start));
    detect_separator(first_line, line);
    has_header_ = resolve_columns(first_line, line);

    const char* data_start = first_start;
    std::size_t lines_before_data = line - 1;
    if (has_header_) {
        data_start = skip_line_break(first_end, end_);
        lines_before_data = line;
    }
    try {
        return parse_data<std::int32_t>(data_start, lines_before_data, threads, chunk_count);
    } catch (const WideIdsNeeded&) {
        return parse_data<std::int64_t>(data_start, lines_before_data, threads, chunk_count);
    }
}

template <typename Id>
RatingsColumns Parser::parse_data(const char* data_start, std::size_t lines_before_data, int threads,
                                  std::size_t chunk_count) const {
    const auto size = static_cast<std::size_t>(end_ - data_start);
    if (chunk_count == 0) {
        // At least one chunk per thread, and no more than a few MiB each,
        // so that with release_text_ a mapped file has only the chunks in
        // progress counted in memory. Fewer for data under kMinChunkBytes per thread.
        chunk_count = std::min(std::max(static_cast<std::size_t>(threads), size / kMaxDefaultChunkBytes),
                               size / kMinChunkBytes);
    }
    // More chunks than bytes would only add empty ones.
    chunk_count = std::max<std::size_t>(1, std::min(chunk_count, size));
    std::vector<Chunk> chunks;
    chunks.reserve(chunk_count);
    for (const TextRange& range : cut_at_line_starts(data_start, end_, chunk_count)) {
        Chunk chunk;
        chunk.text = range;
        chunks.push_back(std::move(chunk));
    }
    const int team = static_cast<int>(std::min(static_cast<std::size_t>(threads), chunks.size()));
    const auto chunk_total = static_cast<std::ptrdiff_t>(chunks.size());

    // Each line gives at most one row, so the line counts size the output
    // and place each chunk's rows, and they number each chunk's lines.
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
    for (std::ptrdiff_t k = 0; k < chunk_total; ++k) {
        chunks[k].lines = count_lines(chunks[k].text.begin, chunks[k].text.end);
        release(chunks[k].text);
    }
    std::size_t lines = 0;
    for (Chunk& chunk : chunks) {
        chunk.lines_before = lines_before_data + lines;
        chunk.first_row = lines;
        lines += chunk.lines;
    }
    IdColumns<Id> ids;
    ColumnVector<float> scores;
    ids.user_ids.resize(lines);
    ids.anime_ids.resize(lines);
    scores.resize(lines);

    // A chunk after one that failed cannot hold the first error, so it is skipped.
    std::atomic<std::ptrdiff_t> first_failed{chunk_total};
#pragma omp parallel for num_threads(team) schedule(dynamic, 1)
    for (std::ptrdiff_t k = 0; k < chunk_total; ++k) {
        if (k > first_failed.load(std::memory_order_relaxed)) continue;
        try {
            const std::size_t first = chunks[k].first_row;
            parse_chunk(chunks[k], RowCursor<Id>{ids.user_ids.data() + first, ids.anime_ids.data() + first,
                                                 scores.data() + first});
            release(chunks[k].text);
        } catch (...) {
            chunks[k].error = std::current_exception();
            std::ptrdiff_t failed = first_failed.load(std::memory_order_relaxed);
            while (k < failed && !first_failed.compare_exchange_weak(failed, k, std::memory_order_relaxed)) {
            }
        }
    }
    for (const Chunk& chunk : chunks) {
        if (chunk.error) std::rethrow_exception(chunk.error);
    }

    // Close the gaps that blank lines left at the end of each chunk's part.
    std::size_t rows = 0;
    for (const Chunk& chunk : chunks) {
        if (chunk.first_row != rows && chunk.rows > 0) {
            std::memmove(ids.user_ids.data() + rows, ids.user_ids.data() + chunk.first_row, chunk.rows * sizeof(Id));
            std::memmove(ids.anime_ids.data() + rows, ids.anime_ids.data() + chunk.first_row, chunk.rows * sizeof(Id));
            std::memmove(scores.data() + rows, scores.data() + chunk.first_row, chunk.rows * sizeof(float));
        }
        rows += chunk.rows;
    }
    ids.user_ids.resize(rows);
    ids.anime_ids.resize(rows);
    scores.resize(rows);
    return RatingsColumns{std::move(ids), std::move(scores)};
}

template <typename Id>
void Parser::parse_chunk(Chunk& chunk, RowCursor<Id> cursor) const {
    const bool user_anime_score =
        roles_.size() == 3 && roles_[0] == Role::kUser && roles_[1] == Role::kAnime && roles_[2] == Role::kScore;
    if (sep_.size == 2) {
        chunk.rows = user_anime_score ? parse_rows<2, true>(chunk.text, chunk.lines_before, cursor)
                                      : parse_rows<2, false>(chunk.text, chunk.lines_before, cursor);
    } else {
        chunk.rows = user_anime_score ? parse_rows<1, true>(chunk.text, chunk.lines_before, cursor)
                                      : parse_rows<1, false>(chunk.text, chunk.lines_before, cursor);
    }
}

void Parser::detect_separator(std::string_view first_line, std::size_t line) {
    std::size_t best_count = 0;
    for (const Separator& candidate : kSeparators) {
        const std::size_t count = count_occurrences(first_line, candidate.text());
        if (count > best_count) {
            best_count = count;
            sep_ = candidate;
        }
    }
    if (best_count == 0) {
        fail_line(line, "no separator found in " + show_value(first_line) +
                            "; separate the user id, anime id and score columns with ',', tab, ';' or '::'");
    }
}

bool Parser::resolve_columns(std::string_view first_line, std::size_t line) {
    const std::vector<std::string_view> raw_fields = split_fields(first_line, sep_);
    first_line_fields_ = raw_fields.size();
    std::vector<std::string_view> fields;
    bool all_numeric = true;
    for (std::string_view raw : raw_fields) {
        fields.push_back(unquote(raw));
        all_numeric = all_numeric && is_number(fields.back());
    }
    if (all_numeric) {
        roles_ = {Role::kUser, Role::kAnime, Role::kScore};
        return false;
    }

    struct Match {
        Role role;
        const std::string_view* names;
        std::size_t count;
        std::size_t column = 0;
        bool found = false;
    };
    std::array<Match, 3> matches = {
        Match{Role::kUser, kUserColumnNames.data(), kUserColumnNames.size()},
        Match{Role::kAnime, kAnimeColumnNames.data(), kAnimeColumnNames.size()},
        Match{Role::kScore, kScoreColumnNames.data(), kScoreColumnNames.size()},
    };
    for (std::size_t column = 0; column < fields.size(); ++column) {
        for (Match& match : matches) {
            const bool known = std::any_of(match.names, match.names + match.count, [&](std::string_view name) {
                return equals_ignore_case(fields[column], name);
            });
            if (!known) continue;
            if (match.found) {
                fail_line(line, std::string("the header names the ") + role_noun(match.role) + " column twice (" +
                                    show_value(fields[match.column]) + " in column " +
                                    std::to_string(match.column + 1) + " and " + show_value(fields[column]) +
                                    " in column " + std::to_string(column + 1) + "); rename or remove one of them");
            }
            match.found = true;
            match.column = column;
        }
    }

    const bool none_found = std::none_of(matches.begin(), matches.end(), [](const Match& m) { return m.found; });
    const bool any_numeric = std::any_of(fields.begin(), fields.end(), is_number);
    if (none_found && any_numeric) {
        // No known column name but a number: data with string ids or with an
        // invalid value, which the row parser reports.
        roles_ = {Role::kUser, Role::kAnime, Role::kScore};
        return false;
    }

    std::vector<std::string> missing;
    for (const Match& match : matches) {
        if (!match.found) missing.emplace_back(role_noun(match.role));
    }
    if (!missing.empty()) {
        std::string shown_fields;
        for (std::size_t i = 0; i < fields.size(); ++i) {
            if (i > 0) shown_fields += ", ";
            shown_fields += show_value(fields[i]);
        }
        fail_line(line, "the header " + shown_fields + " has no " + join_alternatives(missing) +
                            " column. Accepted names (case-insensitive): user id: " +
                            join_names(kUserColumnNames.data(), kUserColumnNames.size()) +
                            "; anime id: " + join_names(kAnimeColumnNames.data(), kAnimeColumnNames.size()) +
                            "; score: " + join_names(kScoreColumnNames.data(), kScoreColumnNames.size()) +
                            ". Rename the header fields, or remove the header line if the first three columns "
                            "are user id, anime id and score");
    }

    std::size_t needed = 0;
    for (const Match& match : matches) needed = std::max(needed, match.column + 1);
    roles_.assign(needed, Role::kIgnore);
    for (const Match& match : matches) roles_[match.column] = match.role;
    for (std::size_t column = 0; column < needed; ++column) header_fields_.emplace_back(fields[column]);
    return true;
}

std::string Parser::column_label(std::size_t column) const {
    if (has_header_) return "column " + show_value(header_fields_[column]);
    return "column " + std::to_string(column + 1) + " (" + role_noun(roles_[column]) + ")";
}

std::string Parser::score_hint() const {
    if (unrated_) {
        return "scores must be finite decimal numbers such as 8 or 7.5, and " + format_marker(*unrated_) +
               " marks an anime on the list without a score";
    }
    return "scores must be finite decimal numbers such as 8 or 7.5 "
           "(no unrated marker is set, so every line needs a score)";
}

// ---- Errors -----------------------------------------------------------------

void Parser::fail_line(std::size_t line, const std::string& problem) const {
    throw RatingsParseError(source_ + ", line " + std::to_string(line) + ": " + problem);
}

// Raise an error about one field. A line with too few fields gets the
// field-count error instead, whichever field failed first, so the message
// matches the Python fallback parser, which checks the count before the fields.
void Parser::fail_field(std::size_t line, const char* line_start, std::size_t column,
                        const std::string& problem) const {
    check_field_count(line, line_start);
    throw RatingsParseError(source_ + ", line " + std::to_string(line) + ", " + column_label(column) + ": " + problem);
}

std::size_t count_fields(std::string_view line, const Separator& sep) {
    return count_occurrences(line, sep.text()) + 1;
}

void Parser::check_field_count(std::size_t line, const char* line_start) const {
    const std::string_view text(line_start, static_cast<std::size_t>(find_line_end(line_start, end_) - line_start));
    if (count_fields(text, sep_) < roles_.size()) fail_field_count(line, line_start);
}

// A line with enough fields for the needed columns but not as many as the
// first line: most often a decimal comma in a comma-separated file, which
// would otherwise shift the score silently.
void Parser::fail_other_field_count(std::size_t line, const char* line_start) const {
    const std::string_view text(line_start, static_cast<std::size_t>(find_line_end(line_start, end_) - line_start));
    std::string hint = "; every line needs the same columns as the first";
    if (sep_.first == ',') hint += ", and a score with a decimal comma must be written with '.' instead";
    fail_line(line, "found " + std::to_string(count_fields(text, sep_)) + " fields separated by " + sep_.label() +
                        ", but the first line has " + std::to_string(first_line_fields_) + hint);
}

void Parser::fail_field_count(std::size_t line, const char* line_start) const {
    const std::string_view text(line_start, static_cast<std::size_t>(find_line_end(line_start, end_) - line_start));
    const std::size_t found = count_fields(text, sep_);
    for (const Separator& other : kSeparators) {
        if (other.first != sep_.first && text.find(other.text()) != std::string_view::npos) {
            fail_line(line, "this line is separated by " + other.label() + " but the first line by " +
                                sep_.label() + "; use one separator in the whole file");
        }
    }
    fail_line(line, "expected at least " + std::to_string(roles_.size()) + " fields separated by " +
                        sep_.label() + ", found " + std::to_string(found) +
                        "; every line needs a user id, an anime id and a score");
}

// ---- Hot loop ---------------------------------------------------------------

// The fast paths come in two modes. Checked, they compare every position
// with `end`. Unchecked, the caller guarantees that a line break follows `p`
// before `end`; every scan stops at a line break, so none can pass `end`.
template <bool kChecked>
inline bool before_end(const char* p, const char* end) {
    if constexpr (kChecked) {
        return p < end;
    } else {
        (void)p;
        (void)end;
        return true;
    }
}

template <std::size_t SepSize, bool kChecked = true>
inline bool at_separator(const char* p, const char* end, char sep) {
    if constexpr (SepSize == 2) {
        // Unchecked, p[0] == ':' is before the guaranteed line break, so p[1] exists.
        return (!kChecked || end - p >= 2) && p[0] == ':' && p[1] == ':';
    } else {
        return before_end<kChecked>(p, end) && *p == sep;
    }
}

template <std::size_t SepSize, bool kChecked>
inline bool at_field_end(const char* p, const char* end, char sep) {
    if (kChecked && p == end) return true;
    return at_separator<SepSize, kChecked>(p, end, sep) || is_line_break(*p);
}

template <std::size_t SepSize>
const char* Parser::find_field_end(const char* p) const {
    while (p < end_ && !is_line_break(*p) && !at_separator<SepSize>(p, end_, sep_.first)) ++p;
    return p;
}

// Parse an integer id of at most 18 digits (so it cannot overflow) with
// optional spaces around it. Returns the field end, or nullptr when the field
// needs the slow path.
template <std::size_t SepSize, bool kChecked>
inline const char* parse_id_fast(const char* p, const char* end, char sep, std::int64_t& value) {
    while (before_end<kChecked>(p, end) && *p == ' ') ++p;
    const bool negative = before_end<kChecked>(p, end) && *p == '-';
    if (negative) ++p;
    const char* const digits = p;
    std::uint64_t magnitude = 0;
    while (before_end<kChecked>(p, end) && is_digit(*p)) {
        magnitude = magnitude * 10 + static_cast<unsigned>(*p - '0');
        ++p;
    }
    const std::ptrdiff_t digit_count = p - digits;
    if (digit_count == 0 || digit_count > 18) return nullptr;
    while (before_end<kChecked>(p, end) && *p == ' ') ++p;
    if (!at_field_end<SepSize, kChecked>(p, end, sep)) return nullptr;
    const auto signed_magnitude = static_cast<std::int64_t>(magnitude);
    value = negative ? -signed_magnitude : signed_magnitude;
    return p;
}

constexpr std::array<float, 8> kPowersOfTenFloat = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f, 1e6f, 1e7f};
constexpr std::array<double, 8> kPowersOfTen = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7};

// Parse a score of at most 7 significant digits with an optional sign and
// decimal point, such as 8, -1 or 7.25. `value` is the float nearest to the
// decimal and `exact` the double nearest to it. Both are correctly rounded:
// the digits form an integer below 2^24, exact in float and in double, the
// power of ten is exact in both, and IEEE division rounds correctly.
// Returns the field end, or nullptr when the field needs the slow path.
template <std::size_t SepSize, bool kChecked>
inline const char* parse_score_fast(const char* p, const char* end, char sep, float& value, double& exact) {
    while (before_end<kChecked>(p, end) && *p == ' ') ++p;
    const bool negative = before_end<kChecked>(p, end) && *p == '-';
    if (before_end<kChecked>(p, end) && (*p == '-' || *p == '+')) ++p;

    std::uint32_t mantissa = 0;
    std::size_t digits = 0;
    std::size_t fraction_digits = 0;
    while (before_end<kChecked>(p, end) && is_digit(*p)) {
        mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
        ++digits;
        ++p;
    }
    if (before_end<kChecked>(p, end) && *p == '.') {
        ++p;
        while (before_end<kChecked>(p, end) && is_digit(*p)) {
            mantissa = mantissa * 10 + static_cast<unsigned>(*p - '0');
            ++digits;
            ++fraction_digits;
            ++p;
        }
    }
    if (digits == 0 || digits > 7) return nullptr;
    while (before_end<kChecked>(p, end) && *p == ' ') ++p;
    if (!at_field_end<SepSize, kChecked>(p, end, sep)) return nullptr;

    float f = static_cast<float>(mantissa);
    double d = static_cast<double>(mantissa);
    if (fraction_digits > 0) {
        f /= kPowersOfTenFloat[fraction_digits];
        d /= kPowersOfTen[fraction_digits];
    }
    value = negative ? -f : f;
    exact = negative ? -d : d;
    return p;
}

template <std::size_t SepSize, bool kUserAnimeScore, typename Id>
std::size_t Parser::parse_rows(TextRange text, std::size_t line, RowCursor<Id> out) const {
    // Rows that start before the last line break end at or before it, so they
    // can use the unchecked fast paths. Only the final line of the file, when
    // it has no final newline, needs the checked ones. Every other chunk ends
    // just after a line break.
    const Id* const first = out.user_ids;
    const char* last_break = text.end;
    while (last_break > text.begin && !is_line_break(last_break[-1])) --last_break;
    const char* p = parse_row_range<SepSize, kUserAnimeScore, false>(text.begin, last_break, line, out);
    parse_row_range<SepSize, kUserAnimeScore, true>(p, text.end, line, out);
    return static_cast<std::size_t>(out.user_ids - first);
}

template <std::size_t SepSize, bool kUserAnimeScore, bool kChecked, typename Id>
const char* Parser::parse_row_range(const char* p, const char* stop, std::size_t& line, RowCursor<Id>& out) const {
    // Locals, not members: the compiler must otherwise reload members after
    // every store, since a char pointer may alias anything.
    const char* const end = end_;
    const char sep = sep_.first;
    const Role* const roles = roles_.data();
    const std::size_t needed = roles_.size();
    const bool has_marker = unrated_.has_value();
    const double marker = has_marker ? *unrated_ : 0.0;
    const float not_rated = std::numeric_limits<float>::quiet_NaN();
    // Locals as well, so that the output positions stay in registers.
    Id* user_out = out.user_ids;
    Id* anime_out = out.anime_ids;
    float* score_out = out.scores;

    while (p < stop) {
        ++line;
        if (is_line_break(*p)) {
            p = skip_line_break(p, end);
            continue;
        }
        const char* const line_start = p;
        if (*p == ' ' || *p == '\t') {
            const char* line_end = find_line_end(p, end);
            if (is_blank(std::string_view(p, static_cast<std::size_t>(line_end - p)))) {
                p = skip_line_break(line_end, end);
                continue;
            }
        }

        std::int64_t user = 0;
        std::int64_t anime = 0;
        float score = 0.0f;
        const auto parse_field = [&](std::size_t column, Role role) PYANIMF_ALWAYS_INLINE {
            if (column > 0) {
                // `p` is at the end of the previous field: a separator or the line end.
                if (!at_separator<SepSize, kChecked>(p, end, sep)) fail_field_count(line, line_start);
                p += SepSize;
            }
            switch (role) {
                case Role::kUser: {
                    const char* next = parse_id_fast<SepSize, kChecked>(p, end, sep, user);
                    p = next ? next : parse_id_slow<SepSize>(p, line, line_start, column, user);
                    break;
                }
                case Role::kAnime: {
                    const char* next = parse_id_fast<SepSize, kChecked>(p, end, sep, anime);
                    p = next ? next : parse_id_slow<SepSize>(p, line, line_start, column, anime);
                    break;
                }
                case Role::kScore: {
                    double exact = 0.0;
                    const char* next = parse_score_fast<SepSize, kChecked>(p, end, sep, score, exact);
                    p = next ? next : parse_score_slow<SepSize>(p, line, line_start, column, score, exact);
                    if (has_marker && exact == marker) score = not_rated;
                    break;
                }
                case Role::kIgnore:
                    p = find_field_end<SepSize>(p);
                    break;
            }
        };
        if constexpr (kUserAnimeScore) {
            // Constant roles let the compiler drop the switch.
            parse_field(0, Role::kUser);
            parse_field(1, Role::kAnime);
            parse_field(2, Role::kScore);
        } else {
            for (std::size_t column = 0; column < needed; ++column) parse_field(column, roles[column]);
        }
        // Skip the columns after the last one needed, checking that the line
        // has as many fields as the first line, then the line break.
        if (p < end && !is_line_break(*p)) {
            if (first_line_fields_ == needed) fail_other_field_count(line, line_start);
            const char* const line_end = find_line_end(p, end);
            const std::string_view rest(p, static_cast<std::size_t>(line_end - p));
            if (count_occurrences(rest, sep_.text()) != first_line_fields_ - needed) {
                fail_other_field_count(line, line_start);
            }
            p = line_end;
        } else if (first_line_fields_ != needed) {
            fail_other_field_count(line, line_start);
        }
        p = skip_line_break(p, end);

        if constexpr (!std::is_same_v<Id, std::int64_t>) {
            if (!fits<Id>(user) || !fits<Id>(anime)) throw WideIdsNeeded{};
        }
        *user_out++ = static_cast<Id>(user);
        *anime_out++ = static_cast<Id>(anime);
        *score_out++ = score;
    }
    out = RowCursor<Id>{user_out, anime_out, score_out};
    return p;
}

// ---- Slow paths -------------------------------------------------------------

template <std::size_t SepSize>
const char* Parser::parse_id_slow(const char* field, std::size_t line, const char* line_start,
                                  std::size_t column, std::int64_t& value) const {
    const char* const field_end = find_field_end<SepSize>(field);
    const std::string_view raw(field, static_cast<std::size_t>(field_end - field));
    const std::string_view text = unquote(raw);
    const char* noun = role_noun(roles_[column]);

    if (text.empty()) {
        fail_field(line, line_start, column,
                   std::string("missing ") + noun +
                       " (empty field); every line needs a user id, an anime id and a score");
    }
    if (is_integer_text(text)) {
        const auto result = std::from_chars(text.data(), text.data() + text.size(), value);
        if (result.ec == std::errc()) return field_end;
        fail_field(line, line_start, column,
                   "id " + show_value(text) +
                       " is outside the 64-bit integer range; ids must be integers from "
                       "-9223372036854775808 to 9223372036854775807, or names");
    }
    if (is_float_formatted(text)) {
        fail_field(line, line_start, column,
                   "float-formatted id " + show_value(text) +
                       "; ids must be integers or names, so convert the column to integers before saving the file");
    }
    check_field_count(line, line_start);
    throw NonIntegerIdError(source_ + ", line " + std::to_string(line) + ", " + column_label(column) + ": " +
                            noun + " " + show_value(text) + " is not an integer");
}

template <std::size_t SepSize>
const char* Parser::parse_score_slow(const char* field, std::size_t line, const char* line_start,
                                     std::size_t column, float& value, double& exact) const {
    const char* const field_end = find_field_end<SepSize>(field);
    const std::string_view raw(field, static_cast<std::size_t>(field_end - field));
    const std::string_view text = unquote(raw);

    if (text.empty()) {
        fail_field(line, line_start, column, "missing score (empty field); " + score_hint());
    }
    // from_chars takes no leading '+'.
    std::string_view number = text;
    if (number.size() > 1 && number[0] == '+' && number[1] != '+' && number[1] != '-') number.remove_prefix(1);
    const char* const first = number.data();
    const char* const last = number.data() + number.size();

    const auto as_double = std::from_chars(first, last, exact);
    if (as_double.ec == std::errc::invalid_argument || as_double.ptr != last) {
        std::string problem = "invalid score " + show_value(text) + "; " + score_hint();
        if (has_decimal_comma(text)) problem += " (write decimals with '.', not ',')";
        fail_field(line, line_start, column, problem);
    }
    if (as_double.ec == std::errc() && !std::isfinite(exact)) {
        fail_field(line, line_start, column, "score " + show_value(text) + " is not a finite number; " + score_hint());
    }
    // Out of range here means the float would be infinite, or zero for a
    // nonzero decimal.
    if (as_double.ec == std::errc::result_out_of_range ||
        std::from_chars(first, last, value).ec != std::errc()) {
        fail_field(line, line_start, column,
                   "score " + show_value(text) + " is out of range for a 32-bit float; " + score_hint());
    }
    return field_end;
}

}  // namespace

RatingsColumns parse_ratings(std::string_view text, const std::string& source, std::optional<double> unrated,
                             int threads, std::size_t chunks, bool release_text) {
    if (threads < 1) {
        throw std::invalid_argument("parse_ratings: threads must be at least 1, got " + std::to_string(threads));
    }
    return Parser(text, source, unrated, release_text).run(threads, chunks);
}

}  // namespace pyanimf::io
