// Open-addressing hash map from id to code, with linear probing in a
// power-of-two table kept at most half full.
#include "io/id_map.hpp"

#include <algorithm>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "common/counting_sort.hpp"
#include "common/worker_errors.hpp"

namespace pyanimf::io {
namespace {

constexpr std::size_t kInitialSlots = 1024;
constexpr std::size_t kMaxUniqueIds = static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max());

// Finalizer of the splitmix64 generator (Steele, Lea and Flood, 2014): every
// input bit affects every output bit, so sequential ids spread over the table.
inline std::uint64_t mix64(std::uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

struct Slot {
    std::int64_t id;
    std::int32_t code;  // -1 marks an empty slot
};

class IdTable {
public:
    IdTable() : slots_(kInitialSlots, Slot{0, -1}), mask_(kInitialSlots - 1) {}

    // Return the code of `id`, adding it with code `next_code` if it is new.
    std::int32_t find_or_insert(std::int64_t id, std::int32_t next_code) {
        std::size_t index = mix64(static_cast<std::uint64_t>(id)) & mask_;
        for (;;) {
            Slot& slot = slots_[index];
            if (slot.code < 0) {
                slot = Slot{id, next_code};
                if (++size_ * 2 > slots_.size()) grow();
                return next_code;
            }
            if (slot.id == id) return slot.code;
            index = (index + 1) & mask_;
        }
    }

private:
    void grow() {
        std::vector<Slot> old(slots_.size() * 2, Slot{0, -1});
        old.swap(slots_);
        mask_ = slots_.size() - 1;
        for (const Slot& slot : old) {
            if (slot.code < 0) continue;
            std::size_t index = mix64(static_cast<std::uint64_t>(slot.id)) & mask_;
            while (slots_[index].code >= 0) index = (index + 1) & mask_;
            slots_[index] = slot;
        }
    }

    std::vector<Slot> slots_;
    std::size_t mask_;
    std::size_t size_ = 0;
};

// Maps ids of any span to codes on one thread through a hash table.
template <typename Id>
IdMapping map_ids_hashed(const Id* ids, std::size_t count, std::int32_t* codes_out) {
    IdMapping result;
    if (codes_out == nullptr) {
        result.codes.resize(count);
        codes_out = result.codes.data();
    }
    IdTable table;
    // Ratings files are often sorted by user, so an id usually repeats the
    // one before it; the check skips the hash lookup for those.
    std::int64_t previous_id = 0;
    std::int32_t previous_code = -1;
    for (std::size_t i = 0; i < count; ++i) {
        const std::int64_t id = ids[i];
        if (previous_code < 0 || id != previous_id) {
            const auto next_code = static_cast<std::int32_t>(result.uniques.size());
            previous_code = table.find_or_insert(id, next_code);
            previous_id = id;
            if (previous_code == next_code) {
                // NOTE: no test reaches this limit, because it needs 2^31 distinct ids.
                if (result.uniques.size() == kMaxUniqueIds) {
                    throw std::length_error("more than " + std::to_string(kMaxUniqueIds) +
                                            " distinct ids; codes are 32-bit, so split the data");
                }
                result.uniques.push_back(id);
            }
        }
        codes_out[i] = previous_code;
    }
    return result;
}

// Ids that span at most this many values, and no more values than there are
// rows, are coded as id - min without hash lookups. Ratings data usually
// numbers users and items densely, so this is the common case.
constexpr std::uint64_t kMaxDenseRange = std::uint64_t{1} << 26;

// The values [base, base + span) that dense ids take.
struct DenseSpan {
    std::uint64_t base;
    std::size_t span;
};

// Returns the span of `ids` when they are dense in the sense above, else nothing.
// `count` must be positive.
template <typename Id>
std::optional<DenseSpan> dense_span(const Id* ids, std::size_t count) {
    const auto [low, high] = std::minmax_element(ids, ids + count);
    // Unsigned arithmetic, so that the full int64 range cannot overflow.
    const std::uint64_t base = static_cast<std::uint64_t>(*low);
    const std::uint64_t range = static_cast<std::uint64_t>(*high) - base;
    if (range >= kMaxDenseRange || range > count) return std::nullopt;
    return DenseSpan{base, static_cast<std::size_t>(range) + 1};
}

// A piece of the rows [begin, end).
struct RowRange {
    std::size_t begin;
    std::size_t end;
};

// Cut [0, count) into `pieces` ranges of about equal size.
std::vector<RowRange> cut_rows(std::size_t count, std::size_t pieces) {
    std::vector<RowRange> ranges;
    for (std::size_t k = 0; k < pieces; ++k) {
        ranges.push_back(RowRange{count / pieces * k + count % pieces * k / pieces,
                                  count / pieces * (k + 1) + count % pieces * (k + 1) / pieces});
    }
    return ranges;
}

// Rows of the input below which map_ids does not split the work further.
constexpr std::size_t kRowsPerPart = std::size_t{1} << 16;

// Maps ids in [base, base + span) to codes. Each thread records the ids that
// first appear in its contiguous range of rows, in order. Taking the ranges
// in order, an id's code is set by the first range that lists it, which is
// the order of first appearance in the whole input.
template <typename Id>
IdMapping map_dense_ids(const Id* ids, std::size_t count, DenseSpan dense, int threads, std::int32_t* codes_out) {
    const std::uint64_t base = dense.base;
    const std::size_t span = dense.span;
    // Each part's table takes a byte per value of the span, so the parts'
    // tables together take no more bytes than there are rows.
    const RowParts parts(count, span, threads, kRowsPerPart);
    std::vector<std::vector<std::int64_t>> first_seen(parts.size());
    const auto parts_signed = static_cast<std::ptrdiff_t>(parts.size());
    WorkerErrors errors;
#pragma omp parallel for num_threads(static_cast<int>(parts.size())) schedule(static, 1)
    for (std::ptrdiff_t k = 0; k < parts_signed; ++k) {
        try {
            std::vector<char> seen(span, 0);
            std::vector<std::int64_t>& listed = first_seen[k];
            for (std::size_t row = parts.begin(k); row < parts.end(k); ++row) {
                const auto offset = static_cast<std::size_t>(static_cast<std::uint64_t>(ids[row]) - base);
                if (seen[offset]) continue;
                seen[offset] = 1;
                listed.push_back(ids[row]);
            }
        } catch (...) {
            errors.capture();
        }
    }
    errors.rethrow_if_any();

    IdMapping result;
    std::vector<std::int32_t> code_of(span, -1);
    for (const std::vector<std::int64_t>& listed : first_seen) {
        for (const std::int64_t id : listed) {
            std::int32_t& code = code_of[static_cast<std::size_t>(static_cast<std::uint64_t>(id) - base)];
            if (code >= 0) continue;
            // The span is below 2^26, so the codes fit in 32 bits.
            code = static_cast<std::int32_t>(result.uniques.size());
            result.uniques.push_back(id);
        }
    }
    if (codes_out == nullptr) {
        // Left uninitialized, so each thread takes the page faults of its own range.
        result.codes.resize(count);
        codes_out = result.codes.data();
    }
    // Each row's id is read before its code is written, so codes_out may be `ids`.
#pragma omp parallel for num_threads(static_cast<int>(parts.size())) schedule(static, 1)
    for (std::ptrdiff_t k = 0; k < parts_signed; ++k) {
        for (std::size_t row = parts.begin(k); row < parts.end(k); ++row) {
            codes_out[row] = code_of[static_cast<std::size_t>(static_cast<std::uint64_t>(ids[row]) - base)];
        }
    }
    return result;
}

}  // namespace

template <typename Id>
IdMapping map_ids(const Id* ids, std::size_t count, int threads, std::int32_t* codes_out) {
    if (threads < 1) {
        throw std::invalid_argument("map_ids: threads must be at least 1, got " + std::to_string(threads));
    }
    if (count == 0) return {};
    if (const auto dense = dense_span(ids, count)) return map_dense_ids(ids, count, *dense, threads, codes_out);
    return map_ids_hashed(ids, count, codes_out);
}

namespace {

// Code `ids` as 0..n_codes-1: densely as id - min when their range allows,
// else by map_ids in order of first appearance.
template <typename Id>
ColumnVector<std::int32_t> compact_codes(const Id* ids, std::size_t count, std::size_t& n_codes) {
    n_codes = 0;
    if (count == 0) return {};
    if (const auto dense = dense_span(ids, count)) {
        ColumnVector<std::int32_t> codes(count);
        for (std::size_t i = 0; i < count; ++i) {
            codes[i] = static_cast<std::int32_t>(static_cast<std::uint64_t>(ids[i]) - dense->base);
        }
        n_codes = dense->span;
        return codes;
    }
    IdMapping mapping = map_ids(ids, count);
    n_codes = mapping.uniques.size();
    return std::move(mapping.codes);
}

// Move each cut forward to the next row whose user differs from the row
// before, so that no user's rows are split between two ranges.
template <typename Id>
void align_to_users(std::vector<RowRange>& ranges, const Id* users, std::size_t count) {
    for (std::size_t k = 1; k < ranges.size(); ++k) {
        std::size_t cut = std::max(ranges[k].begin, ranges[k - 1].begin);
        while (cut > 0 && cut < count && users[cut] == users[cut - 1]) ++cut;
        ranges[k - 1].end = cut;
        ranges[k].begin = cut;
    }
}

// Whether the user ids never decrease, and the range of the anime ids.
struct ColumnScan {
    bool users_sorted = true;
    std::int64_t anime_low = std::numeric_limits<std::int64_t>::max();
    std::int64_t anime_high = std::numeric_limits<std::int64_t>::min();
};

template <typename Id>
ColumnScan scan_columns(const Id* users, const Id* anime, std::size_t count, int threads) {
    const std::vector<RowRange> ranges = cut_rows(count, static_cast<std::size_t>(threads));
    std::vector<ColumnScan> scans(ranges.size());
    const auto range_count = static_cast<std::ptrdiff_t>(ranges.size());
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::ptrdiff_t k = 0; k < range_count; ++k) {
        const RowRange range = ranges[k];
        if (range.begin == range.end) continue;
        // Starting one row early checks the order across the cut.
        const std::size_t first = range.begin > 0 ? range.begin - 1 : 0;
        scans[k].users_sorted = std::is_sorted(users + first, users + range.end);
        const auto [low, high] = std::minmax_element(anime + range.begin, anime + range.end);
        scans[k].anime_low = *low;
        scans[k].anime_high = *high;
    }
    ColumnScan result;
    for (const ColumnScan& scan : scans) {
        result.users_sorted = result.users_sorted && scan.users_sorted;
        result.anime_low = std::min(result.anime_low, scan.anime_low);
        result.anime_high = std::max(result.anime_high, scan.anime_high);
    }
    return result;
}

// superseded_rows for rows sorted by user id with anime ids that span at
// most `n_anime` values from `anime_low`: no codes to build and no sort by
// user. Each range of rows contains whole users, so threads search their
// own ranges, each with its own table.
template <typename Id>
std::vector<std::int64_t> superseded_sorted_rows(const Id* users, const Id* anime,
                                                 std::size_t count, std::int64_t anime_low, std::size_t n_anime,
                                                 int threads) {
    // Each thread's table takes 8 bytes per anime id, so a table larger than
    // about a byte per row runs on one thread.
    const std::size_t pieces = n_anime * 8 * static_cast<std::size_t>(threads) <= count
                                   ? static_cast<std::size_t>(threads)
                                   : 1;
    std::vector<RowRange> ranges = cut_rows(count, pieces);
    align_to_users(ranges, users, count);
    std::vector<std::vector<std::int64_t>> found(ranges.size());
    const auto range_count = static_cast<std::ptrdiff_t>(ranges.size());
    const auto base = static_cast<std::uint64_t>(anime_low);
    constexpr std::size_t kNoRow = std::numeric_limits<std::size_t>::max();
    WorkerErrors errors;

#pragma omp parallel for num_threads(static_cast<int>(pieces)) schedule(static, 1)
    for (std::ptrdiff_t k = 0; k < range_count; ++k) {
        try {
            const RowRange range = ranges[k];
            // last_row[a] is the last row seen for anime a. When it lies in
            // the current user's rows, this row repeats its pair.
            std::vector<std::size_t> last_row(n_anime, kNoRow);
            std::vector<std::int64_t>& superseded = found[k];
            std::size_t user_start = range.begin;
            for (std::size_t row = range.begin; row < range.end; ++row) {
                if (row > range.begin && users[row] != users[row - 1]) user_start = row;
                const auto item = static_cast<std::size_t>(static_cast<std::uint64_t>(anime[row]) - base);
                const std::size_t previous = last_row[item];
                if (previous != kNoRow && previous >= user_start) {
                    superseded.push_back(static_cast<std::int64_t>(previous));
                }
                last_row[item] = row;
            }
            std::sort(superseded.begin(), superseded.end());
        } catch (...) {
            errors.capture();
        }
    }
    errors.rethrow_if_any();

    // The ranges are in row order, so their sorted lists join into one.
    std::vector<std::int64_t> superseded;
    for (const std::vector<std::int64_t>& rows : found) superseded.insert(superseded.end(), rows.begin(), rows.end());
    return superseded;
}

}  // namespace

template <typename Id>
std::vector<std::int64_t> superseded_rows(const Id* users, const Id* anime, std::size_t count, int threads) {
    if (threads < 1) {
        throw std::invalid_argument("superseded_rows: threads must be at least 1, got " + std::to_string(threads));
    }
    if (count == 0) return {};
    const ColumnScan scan = scan_columns(users, anime, count, threads);
    // Unsigned arithmetic, so that the full int64 range cannot overflow.
    const std::uint64_t anime_span =
        static_cast<std::uint64_t>(scan.anime_high) - static_cast<std::uint64_t>(scan.anime_low);
    if (scan.users_sorted && anime_span < kMaxDenseRange && anime_span <= count) {
        return superseded_sorted_rows(users, anime, count, scan.anime_low, static_cast<std::size_t>(anime_span) + 1,
                                      threads);
    }

    std::size_t n_users = 0;
    std::size_t n_anime = 0;
    const ColumnVector<std::int32_t> user_codes = compact_codes(users, count, n_users);
    const ColumnVector<std::int32_t> anime_codes = compact_codes(anime, count, n_anime);

    // Visit the rows grouped by user, each user's rows in file order. User
    // codes never decrease when the rows are sorted by user id (dense codes)
    // or when each user's rows are contiguous (codes by first appearance),
    // and then file order is already grouped. Otherwise a stable counting
    // sort by user code builds the order.
    std::vector<std::size_t> order;
    if (!std::is_sorted(user_codes.begin(), user_codes.end())) {
        std::vector<std::size_t> next(n_users + 1, 0);
        for (const std::int32_t user : user_codes) ++next[static_cast<std::size_t>(user) + 1];
        for (std::size_t u = 1; u < next.size(); ++u) next[u] += next[u - 1];
        order.resize(count);
        for (std::size_t row = 0; row < count; ++row) order[next[user_codes[row]]++] = row;
    }

    // owner[a] is the user code of the last row seen for anime a, and
    // last_row[a] that row. A second row of the same user for anime a
    // supersedes the row recorded there.
    std::vector<std::int32_t> owner(n_anime, -1);
    std::vector<std::size_t> last_row(n_anime, 0);
    std::vector<std::int64_t> superseded;
    for (std::size_t k = 0; k < count; ++k) {
        const std::size_t row = order.empty() ? k : order[k];
        const std::int32_t user = user_codes[row];
        const std::int32_t item = anime_codes[row];
        if (owner[item] == user) superseded.push_back(static_cast<std::int64_t>(last_row[item]));
        owner[item] = user;
        last_row[item] = row;
    }
    std::sort(superseded.begin(), superseded.end());
    return superseded;
}

template IdMapping map_ids(const std::int32_t*, std::size_t, int, std::int32_t*);
template IdMapping map_ids(const std::int64_t*, std::size_t, int, std::int32_t*);
template std::vector<std::int64_t> superseded_rows(const std::int32_t*, const std::int32_t*, std::size_t, int);
template std::vector<std::int64_t> superseded_rows(const std::int64_t*, const std::int64_t*, std::size_t, int);

}  // namespace pyanimf::io
