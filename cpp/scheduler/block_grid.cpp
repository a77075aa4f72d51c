#include "scheduler/block_grid.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <type_traits>

#include "common/counting_sort.hpp"
#include "common/page_release.hpp"
#include "common/random.hpp"
#include "common/worker_errors.hpp"

namespace pyanimf {
namespace {

// Streams of the construction seed, one per purpose.
constexpr std::uint64_t kUserGroupStream = 1;
constexpr std::uint64_t kItemGroupStream = 2;
constexpr std::uint64_t kBlockOrderStream = 3;

// Users whose ratings are interleaved inside a block.
constexpr std::size_t kInterleavedUsers = 4;

// Input rows below which the counting sort does not split the work further.
constexpr std::size_t kRowsPerPart = std::size_t{1} << 16;

// Renumbers `counts.size()` ids so that each of `groups` groups is one
// contiguous range of new indices: ids are taken in a seeded random order
// and each group is filled up to 1/groups of the ratings, so groups carry
// similar work. Returns the new index of each id and writes the first new
// index of each group to `group_begin` (groups + 1 entries).
std::vector<std::int32_t> renumber_into_groups(const std::vector<std::size_t>& counts, int groups,
                                               std::size_t total, SplitMix64 rng,
                                               std::vector<std::int32_t>& group_begin) {
    std::vector<std::int32_t> order(counts.size());
    std::iota(order.begin(), order.end(), 0);
    shuffle(order.data(), order.size(), rng);

    std::vector<std::int32_t> new_index(counts.size(), 0);
    group_begin.assign(groups + 1, static_cast<std::int32_t>(counts.size()));
    group_begin[0] = 0;
    std::size_t seen = 0;
    int group = 0;
    for (std::size_t position = 0; position < order.size(); ++position) {
        const std::int32_t id = order[position];
        const std::size_t wanted = total == 0 ? 0 : (seen * groups) / total;
        while (group < groups - 1 && static_cast<std::size_t>(group) < wanted) {
            group_begin[++group] = static_cast<std::int32_t>(position);
        }
        new_index[id] = static_cast<std::int32_t>(position);
        seen += counts[id];
    }
    return new_index;
}

// The group of a renumbered index, from the first index of each group.
std::vector<std::int32_t> group_of_index(const std::vector<std::int32_t>& group_begin, std::size_t count) {
    std::vector<std::int32_t> group(count);
    for (std::size_t g = 0; g + 1 < group_begin.size(); ++g) {
        for (std::int32_t index = group_begin[g]; index < group_begin[g + 1]; ++index) group[index] = static_cast<std::int32_t>(g);
    }
    return group;
}

// The order in which a block's ratings are visited: grouped by user, so the
// user's row stays in L1 across their ratings, but interleaved round-robin
// over kInterleavedUsers users at a time, so an update never waits for the
// row written by the update just before it. Each user's ratings come in a
// seeded random order; users come in index order, which is random already
// because renumber_into_groups shuffled them. `users` are local indices in
// [0, group_users), so a counting sort groups them in linear time.
template <typename Index>
std::vector<std::size_t> interleaved_order(const Index* users, std::size_t size, std::size_t group_users,
                                           SplitMix64 rng) {
    std::vector<std::size_t> run_begin(group_users + 1, 0);
    for (std::size_t k = 0; k < size; ++k) ++run_begin[static_cast<std::size_t>(users[k]) + 1];
    std::partial_sum(run_begin.begin(), run_begin.end(), run_begin.begin());
    std::vector<std::size_t> by_user(size);
    {
        std::vector<std::size_t> cursor(run_begin.begin(), run_begin.end() - 1);
        for (std::size_t k = 0; k < size; ++k) by_user[cursor[users[k]]++] = k;
    }
    for (std::size_t user = 0; user < group_users; ++user) {
        shuffle(by_user.data() + run_begin[user], run_begin[user + 1] - run_begin[user], rng);
    }

    struct Run {
        std::size_t next;
        std::size_t end;
    };
    std::size_t next_user = 0;
    auto next_run = [&]() -> Run {
        while (next_user < group_users && run_begin[next_user] == run_begin[next_user + 1]) ++next_user;
        if (next_user == group_users) return {size, size};
        const Run run{run_begin[next_user], run_begin[next_user + 1]};
        ++next_user;
        return run;
    };
    Run lanes[kInterleavedUsers];
    for (Run& lane : lanes) lane = next_run();

    std::vector<std::size_t> order;
    order.reserve(size);
    while (order.size() < size) {
        for (Run& lane : lanes) {
            if (lane.next == lane.end) continue;
            order.push_back(by_user[lane.next++]);
            if (lane.next == lane.end) lane = next_run();
        }
    }
    return order;
}

// The group and local index of each id of one side (users or anime), by the caller's index.
struct SidePlacement {
    std::vector<std::int32_t> group;  // row or column group
    std::vector<std::int32_t> local;  // index within the group
};

SidePlacement place_side(const std::vector<std::int32_t>& permutation, const std::vector<std::int32_t>& group_begin) {
    const std::vector<std::int32_t> group_of_row = group_of_index(group_begin, permutation.size());
    SidePlacement placement{std::vector<std::int32_t>(permutation.size()), std::vector<std::int32_t>(permutation.size())};
    for (std::size_t id = 0; id < permutation.size(); ++id) {
        const std::int32_t group = group_of_row[permutation[id]];
        placement.group[id] = group;
        placement.local[id] = permutation[id] - group_begin[group];
    }
    return placement;
}

std::size_t largest_group(const std::vector<std::int32_t>& group_begin) {
    std::size_t largest = 0;
    for (std::size_t group = 0; group + 1 < group_begin.size(); ++group) {
        largest = std::max(largest, static_cast<std::size_t>(group_begin[group + 1] - group_begin[group]));
    }
    return largest;
}

// Local indices take 16 bits when no group has more members than this.
constexpr std::size_t kNarrowGroupLimit = std::size_t{1} << 16;

[[noreturn]] void fail_index(const char* name, std::int32_t value, std::size_t position, std::int32_t limit) {
    throw std::invalid_argument(std::string(name) + ": expected indices in [0, " + std::to_string(limit) + "), got " +
                                std::to_string(value) + " at position " + std::to_string(position));
}

// The ratings count of each user and anime, unrated rows left out.
struct RatingCounts {
    std::vector<std::size_t> users;
    std::vector<std::size_t> items;
    std::size_t rated = 0;
};

// Counts the rated rows of each user and anime on up to `threads` threads,
// each taking a contiguous part of the rows. Every index is checked, on
// unrated rows too. A bad one throws std::invalid_argument naming the first
// bad user index, or when there is none the first bad anime index.
RatingCounts count_ratings(const std::int32_t* users, const std::int32_t* items, const float* scores,
                           std::size_t count, std::int32_t n_users, std::int32_t n_items, int threads) {
    const auto user_slots = static_cast<std::size_t>(n_users);
    const auto item_slots = static_cast<std::size_t>(n_items);
    const RowParts parts(count, user_slots + item_slots, threads, kRowsPerPart);
    std::vector<RatingCounts> part_counts(parts.size());
    constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
    std::vector<std::size_t> bad_user(parts.size(), kNone);
    std::vector<std::size_t> bad_item(parts.size(), kNone);
    const auto parts_signed = static_cast<std::int64_t>(parts.size());
    WorkerErrors worker_errors;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t part = 0; part < parts_signed; ++part) {
        try {
            RatingCounts& counts = part_counts[part];
            counts.users.assign(user_slots, 0);
            counts.items.assign(item_slots, 0);
            for (std::size_t k = parts.begin(part); k < parts.end(part); ++k) {
                const bool user_valid = users[k] >= 0 && users[k] < n_users;
                const bool item_valid = items[k] >= 0 && items[k] < n_items;
                if (!user_valid && bad_user[part] == kNone) bad_user[part] = k;
                if (!item_valid && bad_item[part] == kNone) bad_item[part] = k;
                if (!user_valid || !item_valid || std::isnan(scores[k])) continue;
                ++counts.users[users[k]];
                ++counts.items[items[k]];
                ++counts.rated;
            }
        } catch (...) {
            worker_errors.capture();
        }
    }
    worker_errors.rethrow_if_any();
    for (const std::size_t position : bad_user) {
        if (position != kNone) fail_index("users", users[position], position, n_users);
    }
    for (const std::size_t position : bad_item) {
        if (position != kNone) fail_index("items", items[position], position, n_items);
    }

    RatingCounts total = std::move(part_counts[0]);
    for (std::size_t part = 1; part < parts.size(); ++part) {
        for (std::size_t user = 0; user < user_slots; ++user) total.users[user] += part_counts[part].users[user];
        for (std::size_t item = 0; item < item_slots; ++item) total.items[item] += part_counts[part].items[item];
        total.rated += part_counts[part].rated;
    }
    return total;
}

}  // namespace

BlockGrid::BlockGrid(const std::int32_t* users, const std::int32_t* items, const float* scores,
                     std::size_t count, std::int32_t n_users, std::int32_t n_items, int grid_size,
                     std::uint64_t seed, int threads, ScoreTransform transform, InputRelease release,
                     IndexWidth width)
    : grid_size_(grid_size), n_users_(n_users), n_items_(n_items) {
    if (grid_size < 1 || grid_size > 1024) {
        throw std::invalid_argument("grid_size: expected 1 to 1024, got " + std::to_string(grid_size));
    }
    const RatingCounts counts = count_ratings(users, items, scores, count, n_users, n_items, threads);
    const std::size_t n_rated = counts.rated;
    user_permutation_ = renumber_into_groups(counts.users, grid_size, n_rated, make_stream(seed, kUserGroupStream), user_begin_);
    item_permutation_ = renumber_into_groups(counts.items, grid_size, n_rated, make_stream(seed, kItemGroupStream), item_begin_);
    narrow_ = width == IndexWidth::kAutomatic && largest_group(user_begin_) <= kNarrowGroupLimit &&
              largest_group(item_begin_) <= kNarrowGroupLimit;
    user_counts_.assign(static_cast<std::size_t>(n_users), 0);
    item_counts_.assign(static_cast<std::size_t>(n_items), 0);
    for (std::size_t user = 0; user < counts.users.size(); ++user) {
        user_counts_[user_permutation_[user]] = static_cast<std::int64_t>(counts.users[user]);
    }
    for (std::size_t item = 0; item < counts.items.size(); ++item) {
        item_counts_[item_permutation_[item]] = static_cast<std::int64_t>(counts.items[item]);
    }
    const SidePlacement user_side = place_side(user_permutation_, user_begin_);
    const SidePlacement item_side = place_side(item_permutation_, item_begin_);
    auto block_of_rating = [&](std::size_t k) {
        return static_cast<std::size_t>(user_side.group[users[k]]) * grid_size + item_side.group[items[k]];
    };

    // A stable counting sort into block-major order (common/counting_sort.hpp);
    // the input order is kept inside a block until order_blocks. The block of
    // a rating is computed in both passes, which is cheaper than storing it.
    // The last key of each part counts its unrated rows.
    const std::size_t n_blocks = static_cast<std::size_t>(grid_size) * grid_size;
    const std::size_t keys = n_blocks + 1;
    const RowParts parts(count, keys, threads, kRowsPerPart);
    std::vector<std::size_t> part_counts(parts.size() * keys, 0);
    const auto parts_signed = static_cast<std::int64_t>(parts.size());
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t part = 0; part < parts_signed; ++part) {
        std::size_t* part_count = part_counts.data() + part * keys;
        for (std::size_t k = parts.begin(part); k < parts.end(part); ++k) {
            ++part_count[std::isnan(scores[k]) ? n_blocks : block_of_rating(k)];
        }
    }
    offsets_.assign(keys + 1, 0);
    counts_to_slots(part_counts.data(), parts.size(), keys, offsets_.data());
    // The unrated rows' slots start after the rated ones; count from 0 instead.
    for (std::size_t part = 0; part < parts.size(); ++part) part_counts[part * keys + n_blocks] -= n_rated;
    unrated_users_.resize(offsets_[keys] - n_rated);
    unrated_items_.resize(unrated_users_.size());
    offsets_.resize(n_blocks + 1);

    // The local indices and scores are left uninitialized, so the threads
    // below take the page faults of the first writes between them. Each
    // thread's writes run forward from a few points per block, so they touch
    // little more memory than they fill, while the input they have read is
    // released behind them.
    const float shift = transform.shift;
    const float scale = transform.scale;
    scores_.resize(n_rated);
    auto fill = [&](auto* out_users, auto* out_items) {
        using Index = std::remove_pointer_t<decltype(out_users)>;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
        for (std::int64_t part = 0; part < parts_signed; ++part) {
            std::size_t* cursor = part_counts.data() + part * keys;
            const std::size_t begin = parts.begin(part);
            const std::size_t end = parts.end(part);
            ReleasingReader<std::int32_t> user_reader(users, begin, release.ids);
            ReleasingReader<std::int32_t> item_reader(items, begin, release.ids);
            ReleasingReader<float> score_reader(scores, begin, release.scores);
            for (std::size_t k = begin; k < end; ++k) {
                const std::int32_t user = users[k];
                const std::int32_t item = items[k];
                const float score = scores[k];
                if (std::isnan(score)) {
                    const std::size_t slot = cursor[n_blocks]++;
                    unrated_users_[slot] = user_permutation_[user];
                    unrated_items_[slot] = item_permutation_[item];
                } else {
                    const std::size_t slot = cursor[block_of_rating(k)]++;
                    out_users[slot] = static_cast<Index>(user_side.local[user]);
                    out_items[slot] = static_cast<Index>(item_side.local[item]);
                    scores_[slot] = (score - shift) / scale;
                }
                if ((k & 0xFFFF) == 0) {
                    user_reader.passed(k);
                    item_reader.passed(k);
                    score_reader.passed(k);
                }
            }
            user_reader.finish(end);
            item_reader.finish(end);
            score_reader.finish(end);
        }
    };
    if (narrow_) {
        narrow_users_.resize(n_rated);
        narrow_items_.resize(n_rated);
        fill(narrow_users_.data(), narrow_items_.data());
        order_blocks(narrow_users_.data(), narrow_items_.data(), seed, threads);
    } else {
        wide_users_.resize(n_rated);
        wide_items_.resize(n_rated);
        fill(wide_users_.data(), wide_items_.data());
        order_blocks(wide_users_.data(), wide_items_.data(), seed, threads);
    }
}

template <typename Index>
void BlockGrid::order_blocks(Index* users, Index* items, std::uint64_t seed, int threads) {
    // The visiting order inside each block, fixed for all epochs (see
    // interleaved_order). Blocks are independent, so threads share them.
    const std::uint64_t order_seed = make_stream(seed, kBlockOrderStream).next();
    const auto n_blocks = static_cast<std::int64_t>(offsets_.size() - 1);
    WorkerErrors worker_errors;
#pragma omp parallel num_threads(threads)
    {
        std::vector<Index> block_users;
        std::vector<Index> block_items;
        std::vector<float> block_scores;
#pragma omp for schedule(dynamic)
        for (std::int64_t block = 0; block < n_blocks; ++block) {
            try {
                const std::size_t begin = offsets_[block];
                const std::size_t size = offsets_[block + 1] - begin;
                const std::size_t row_group = static_cast<std::size_t>(block) / grid_size_;
                const auto group_users = static_cast<std::size_t>(user_begin_[row_group + 1] - user_begin_[row_group]);
                const std::vector<std::size_t> order =
                    interleaved_order(users + begin, size, group_users, make_stream(order_seed, block));
                block_users.resize(size);
                block_items.resize(size);
                block_scores.resize(size);
                for (std::size_t k = 0; k < size; ++k) {
                    block_users[k] = users[begin + order[k]];
                    block_items[k] = items[begin + order[k]];
                    block_scores[k] = scores_[begin + order[k]];
                }
                std::copy(block_users.begin(), block_users.end(), users + begin);
                std::copy(block_items.begin(), block_items.end(), items + begin);
                std::copy(block_scores.begin(), block_scores.end(), scores_.begin() + begin);
            } catch (...) {
                worker_errors.capture();
            }
        }
    }
    worker_errors.rethrow_if_any();
}

std::vector<std::size_t> BlockGrid::block_sizes() const {
    std::vector<std::size_t> sizes(offsets_.size() - 1);
    for (std::size_t block = 0; block + 1 < offsets_.size(); ++block) {
        sizes[block] = offsets_[block + 1] - offsets_[block];
    }
    return sizes;
}

std::vector<float> BlockGrid::divide_by_user_scale(double shrinkage, int threads) {
    if (!(shrinkage > 0.0) || !std::isfinite(shrinkage)) {
        throw std::invalid_argument("shrinkage: expected a positive finite number, got " + std::to_string(shrinkage));
    }
    if (emptied_) throw std::logic_error("divide_by_user_scale: seen_sets() took this grid's ratings");
    if (user_scaled_) throw std::logic_error("divide_by_user_scale: the scores were divided by the user scales before");
    std::vector<float> scales(static_cast<std::size_t>(n_users_), 1.0f);
    if (narrow_) {
        divide_scores_by_user(narrow_users_.data(), shrinkage, scales, threads);
    } else {
        divide_scores_by_user(wide_users_.data(), shrinkage, scales, threads);
    }
    user_scaled_ = true;
    return scales;
}

template <typename Index>
void BlockGrid::divide_scores_by_user(const Index* users, double shrinkage, std::vector<float>& scales, int threads) {
    // A row group's users are a range of model rows of their own, and its
    // blocks are contiguous in storage, so each row group is one task that
    // reads and writes nothing another task touches.
    const auto groups = static_cast<std::int64_t>(grid_size_);
    float* scores = scores_.data();
    WorkerErrors worker_errors;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (std::int64_t row_group = 0; row_group < groups; ++row_group) {
        try {
            const std::int32_t user_base = user_begin_[row_group];
            const auto group_users = static_cast<std::size_t>(user_begin_[row_group + 1] - user_base);
            const std::size_t begin = offsets_[static_cast<std::size_t>(row_group) * grid_size_];
            const std::size_t end = offsets_[static_cast<std::size_t>(row_group + 1) * grid_size_];

            std::vector<double> means(group_users, 0.0);
            for (std::size_t k = begin; k < end; ++k) means[users[k]] += scores[k];
            for (std::size_t u = 0; u < group_users; ++u) {
                means[u] /= static_cast<double>(user_counts_[user_base + u]) + shrinkage;
            }

            std::vector<double> squares(group_users, 0.0);
            for (std::size_t k = begin; k < end; ++k) {
                const double deviation = scores[k] - means[users[k]];
                squares[users[k]] += deviation * deviation;
            }
            std::vector<float> group_scales(group_users);
            for (std::size_t u = 0; u < group_users; ++u) {
                const double n = static_cast<double>(user_counts_[user_base + u]);
                group_scales[u] = static_cast<float>(std::sqrt((squares[u] + shrinkage) / (n + shrinkage)));
                scales[user_base + u] = group_scales[u];
            }

            for (std::size_t k = begin; k < end; ++k) scores[k] /= group_scales[users[k]];
        } catch (...) {
            worker_errors.capture();
        }
    }
    worker_errors.rethrow_if_any();
}

SeenSets BlockGrid::seen_sets(const std::int32_t* extra_users, const std::int32_t* extra_items,
                              std::size_t extra_count, int threads) {
    if (emptied_) throw std::logic_error("seen_sets: an earlier call took this grid's ratings");
    for (std::size_t k = 0; k < extra_count; ++k) {
        if (extra_users[k] < 0 || extra_users[k] >= n_users_) fail_index("extra users", extra_users[k], k, n_users_);
        if (extra_items[k] < 0 || extra_items[k] >= n_items_) fail_index("extra items", extra_items[k], k, n_items_);
    }
    SeenSets seen = collect_lists(extra_users, extra_items, extra_count, threads, true);
    emptied_ = true;
    ColumnVector<std::uint16_t>().swap(narrow_users_);
    ColumnVector<std::uint16_t>().swap(narrow_items_);
    ColumnVector<std::int32_t>().swap(wide_users_);
    ColumnVector<std::int32_t>().swap(wide_items_);
    ColumnVector<float>().swap(scores_);
    std::vector<std::int32_t>().swap(unrated_users_);
    std::vector<std::int32_t>().swap(unrated_items_);
    return seen;
}

SeenSets BlockGrid::listed_sets(int threads) const {
    if (emptied_) throw std::logic_error("listed_sets: seen_sets() took this grid's ratings");
    return collect_lists(nullptr, nullptr, 0, threads, false);
}

SeenSets BlockGrid::collect_lists(const std::int32_t* extra_users, const std::int32_t* extra_items,
                                  std::size_t extra_count, int threads, bool release) const {
    SeenSets seen;
    seen.indptr.assign(static_cast<std::size_t>(n_users_) + 1, 0);
    for (std::size_t user = 0; user < user_counts_.size(); ++user) seen.indptr[user + 1] = user_counts_[user];
    for (const std::int32_t user : unrated_users_) ++seen.indptr[user + 1];
    for (std::size_t k = 0; k < extra_count; ++k) ++seen.indptr[extra_users[k] + 1];
    std::partial_sum(seen.indptr.begin(), seen.indptr.end(), seen.indptr.begin());
    seen.items.resize(static_cast<std::size_t>(seen.indptr.back()));
    std::vector<std::int64_t> cursor(seen.indptr.begin(), seen.indptr.end() - 1);
    if (narrow_) {
        gather_seen(narrow_users_.data(), narrow_items_.data(), seen, cursor, threads, release);
    } else {
        gather_seen(wide_users_.data(), wide_items_.data(), seen, cursor, threads, release);
    }
    for (std::size_t k = 0; k < unrated_users_.size(); ++k) seen.items[cursor[unrated_users_[k]]++] = unrated_items_[k];
    for (std::size_t k = 0; k < extra_count; ++k) seen.items[cursor[extra_users[k]]++] = extra_items[k];
    return seen;
}

template <typename Index>
void BlockGrid::gather_seen(const Index* users, const Index* items, SeenSets& seen, std::vector<std::int64_t>& cursor,
                            int threads, bool release) const {
    // A row group's users are a range of rows of their own, so the row
    // groups fill disjoint parts of `seen` and need no locks. Each row
    // group's blocks are contiguous, and with `release` are given back once read.
    const auto groups = static_cast<std::int64_t>(grid_size_);
    std::int32_t* out = seen.items.data();
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
    for (std::int64_t row_group = 0; row_group < groups; ++row_group) {
        const std::size_t first_block = static_cast<std::size_t>(row_group) * grid_size_;
        for (std::size_t block = first_block; block < first_block + grid_size_; ++block) {
            const std::int32_t user_base = first_user(block);
            const std::int32_t item_base = first_item(block);
            for (std::size_t k = offsets_[block]; k < offsets_[block + 1]; ++k) {
                out[cursor[user_base + static_cast<std::int32_t>(users[k])]++] =
                    item_base + static_cast<std::int32_t>(items[k]);
            }
        }
        if (!release) continue;
        const std::size_t begin = offsets_[first_block];
        const std::size_t end = offsets_[first_block + grid_size_];
        release_pages(users + begin, users + end);
        release_pages(items + begin, items + end);
        release_pages(scores_.data() + begin, scores_.data() + end);
    }
}

}  // namespace pyanimf
