#include "scheduler/block_grid.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>

#include "common/counting_sort.hpp"
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
// because renumber_into_groups shuffled them. The block's users all lie in
// [first_user, first_user + group_users), so a counting sort groups them in
// linear time.
std::vector<std::size_t> interleaved_order(const std::int32_t* users, std::size_t size, std::int32_t first_user,
                                           std::size_t group_users, SplitMix64 rng) {
    std::vector<std::size_t> run_begin(group_users + 1, 0);
    for (std::size_t k = 0; k < size; ++k) ++run_begin[users[k] - first_user + 1];
    std::partial_sum(run_begin.begin(), run_begin.end(), run_begin.begin());
    std::vector<std::size_t> by_user(size);
    {
        std::vector<std::size_t> cursor(run_begin.begin(), run_begin.end() - 1);
        for (std::size_t k = 0; k < size; ++k) by_user[cursor[users[k] - first_user]++] = k;
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
                     std::uint64_t seed, int threads, ScoreTransform transform)
    : grid_size_(grid_size), n_users_(n_users), n_items_(n_items) {
    if (grid_size < 1 || grid_size > 1024) {
        throw std::invalid_argument("grid_size: expected 1 to 1024, got " + std::to_string(grid_size));
    }
    const RatingCounts counts = count_ratings(users, items, scores, count, n_users, n_items, threads);
    const std::size_t n_rated = counts.rated;
    std::vector<std::int32_t> user_begin, item_begin;
    user_permutation_ = renumber_into_groups(counts.users, grid_size, n_rated, make_stream(seed, kUserGroupStream), user_begin);
    item_permutation_ = renumber_into_groups(counts.items, grid_size, n_rated, make_stream(seed, kItemGroupStream), item_begin);
    const auto user_group = group_of_index(user_begin, n_users);
    const auto item_group = group_of_index(item_begin, n_items);
    auto block_of_rating = [&](std::size_t k) {
        return static_cast<std::size_t>(user_group[user_permutation_[users[k]]]) * grid_size +
               item_group[item_permutation_[items[k]]];
    };

    // A stable counting sort into block-major order (common/counting_sort.hpp);
    // the input order is kept inside a block until the shuffle below. The
    // block of a rating is computed in both passes, which is cheaper than
    // storing it.
    const std::size_t n_blocks = static_cast<std::size_t>(grid_size) * grid_size;
    const RowParts parts(count, n_blocks, threads, kRowsPerPart);
    std::vector<std::size_t> part_counts(parts.size() * n_blocks, 0);
    const auto parts_signed = static_cast<std::int64_t>(parts.size());
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t part = 0; part < parts_signed; ++part) {
        std::size_t* counts = part_counts.data() + part * n_blocks;
        for (std::size_t k = parts.begin(part); k < parts.end(part); ++k) {
            if (!std::isnan(scores[k])) ++counts[block_of_rating(k)];
        }
    }
    offsets_.assign(n_blocks + 1, 0);
    counts_to_slots(part_counts.data(), parts.size(), n_blocks, offsets_.data());

    // Left uninitialized, so the threads below take the page faults of the
    // first writes between them.
    users_.resize(n_rated);
    items_.resize(n_rated);
    scores_.resize(n_rated);
    const float shift = transform.shift;
    const float scale = transform.scale;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (std::int64_t part = 0; part < parts_signed; ++part) {
        std::size_t* cursor = part_counts.data() + part * n_blocks;
        for (std::size_t k = parts.begin(part); k < parts.end(part); ++k) {
            if (std::isnan(scores[k])) continue;
            const std::size_t slot = cursor[block_of_rating(k)]++;
            users_[slot] = user_permutation_[users[k]];
            items_[slot] = item_permutation_[items[k]];
            scores_[slot] = (scores[k] - shift) / scale;
        }
    }

    // The visiting order inside each block, fixed for all epochs (see
    // interleaved_order). Blocks are independent, so threads share them.
    const std::uint64_t order_seed = make_stream(seed, kBlockOrderStream).next();
    const auto n_blocks_signed = static_cast<std::int64_t>(n_blocks);
    WorkerErrors worker_errors;
#pragma omp parallel num_threads(threads)
    {
        std::vector<std::int32_t> block_users;
        std::vector<std::int32_t> block_items;
        std::vector<float> block_scores;
#pragma omp for schedule(dynamic)
        for (std::int64_t block = 0; block < n_blocks_signed; ++block) {
            try {
                order_block(static_cast<std::size_t>(block), user_begin, make_stream(order_seed, block), block_users,
                            block_items, block_scores);
            } catch (...) {
                worker_errors.capture();
            }
        }
    }
    worker_errors.rethrow_if_any();
}

void BlockGrid::order_block(std::size_t block, const std::vector<std::int32_t>& user_begin, SplitMix64 rng,
                            std::vector<std::int32_t>& block_users, std::vector<std::int32_t>& block_items,
                            std::vector<float>& block_scores) {
    const std::size_t begin = offsets_[block];
    const std::size_t size = offsets_[block + 1] - begin;
    const std::size_t row_group = block / grid_size_;
    const std::vector<std::size_t> order =
        interleaved_order(users_.data() + begin, size, user_begin[row_group],
                          static_cast<std::size_t>(user_begin[row_group + 1] - user_begin[row_group]), rng);
    block_users.resize(size);
    block_items.resize(size);
    block_scores.resize(size);
    for (std::size_t k = 0; k < size; ++k) {
        block_users[k] = users_[begin + order[k]];
        block_items[k] = items_[begin + order[k]];
        block_scores[k] = scores_[begin + order[k]];
    }
    std::copy(block_users.begin(), block_users.end(), users_.begin() + begin);
    std::copy(block_items.begin(), block_items.end(), items_.begin() + begin);
    std::copy(block_scores.begin(), block_scores.end(), scores_.begin() + begin);
}

std::vector<std::size_t> BlockGrid::block_sizes() const {
    std::vector<std::size_t> sizes(offsets_.size() - 1);
    for (std::size_t block = 0; block + 1 < offsets_.size(); ++block) {
        sizes[block] = offsets_[block + 1] - offsets_[block];
    }
    return sizes;
}

}  // namespace pyanimf
