#include "scheduler/block_grid.hpp"

#include <numeric>
#include <stdexcept>
#include <string>

#include "common/random.hpp"

namespace pyanimf {
namespace {

// Streams of the construction seed, one per purpose.
constexpr std::uint64_t kUserGroupStream = 1;
constexpr std::uint64_t kItemGroupStream = 2;
constexpr std::uint64_t kBlockOrderStream = 3;

// Assigns each of `counts.size()` ids to one of `groups` groups: ids are taken
// in a seeded random order and each group is filled up to 1/groups of the
// ratings, so groups carry similar work.
std::vector<std::int32_t> assign_groups(const std::vector<std::size_t>& counts, int groups,
                                        std::size_t total, SplitMix64 rng) {
    std::vector<std::int32_t> order(counts.size());
    std::iota(order.begin(), order.end(), 0);
    shuffle(order.data(), order.size(), rng);

    std::vector<std::int32_t> group_of(counts.size(), 0);
    std::size_t seen = 0;
    for (std::int32_t id : order) {
        const std::size_t group = total == 0 ? 0 : (seen * groups) / total;
        group_of[id] = static_cast<std::int32_t>(group < static_cast<std::size_t>(groups) ? group : groups - 1);
        seen += counts[id];
    }
    return group_of;
}

void check_indices(const std::int32_t* values, std::size_t count, std::int32_t limit,
                   const char* name) {
    for (std::size_t k = 0; k < count; ++k) {
        if (values[k] < 0 || values[k] >= limit) {
            throw std::invalid_argument(std::string(name) + ": expected indices in [0, " +
                                        std::to_string(limit) + "), got " +
                                        std::to_string(values[k]) + " at position " +
                                        std::to_string(k));
        }
    }
}

}  // namespace

BlockGrid::BlockGrid(const std::int32_t* users, const std::int32_t* items, const float* scores,
                     std::size_t count, std::int32_t n_users, std::int32_t n_items, int grid_size,
                     std::uint64_t seed)
    : grid_size_(grid_size), n_users_(n_users), n_items_(n_items) {
    if (grid_size < 1 || grid_size > 1024) {
        throw std::invalid_argument("grid_size: expected 1 to 1024, got " + std::to_string(grid_size));
    }
    check_indices(users, count, n_users, "users");
    check_indices(items, count, n_items, "items");

    std::vector<std::size_t> user_counts(n_users, 0);
    std::vector<std::size_t> item_counts(n_items, 0);
    for (std::size_t k = 0; k < count; ++k) {
        ++user_counts[users[k]];
        ++item_counts[items[k]];
    }
    const auto user_group = assign_groups(user_counts, grid_size, count, make_stream(seed, kUserGroupStream));
    const auto item_group = assign_groups(item_counts, grid_size, count, make_stream(seed, kItemGroupStream));

    // Counting sort into block-major order; the input order is kept inside a
    // block until the shuffle below.
    const std::size_t n_blocks = static_cast<std::size_t>(grid_size) * grid_size;
    std::vector<std::uint32_t> block_of_rating(count);  // G*G <= 2^20 blocks
    offsets_.assign(n_blocks + 1, 0);
    for (std::size_t k = 0; k < count; ++k) {
        const std::size_t block = static_cast<std::size_t>(user_group[users[k]]) * grid_size + item_group[items[k]];
        block_of_rating[k] = static_cast<std::uint32_t>(block);
        ++offsets_[block + 1];
    }
    std::partial_sum(offsets_.begin(), offsets_.end(), offsets_.begin());

    users_.resize(count);
    items_.resize(count);
    scores_.resize(count);
    std::vector<std::size_t> cursor(offsets_.begin(), offsets_.end() - 1);
    for (std::size_t k = 0; k < count; ++k) {
        const std::size_t slot = cursor[block_of_rating[k]]++;
        users_[slot] = users[k];
        items_[slot] = items[k];
        scores_[slot] = scores[k];
    }

    // A seeded random visiting order inside each block, fixed for all epochs.
    const std::uint64_t order_seed = make_stream(seed, kBlockOrderStream).next();
    std::vector<std::size_t> order;
    for (std::size_t block = 0; block < n_blocks; ++block) {
        const std::size_t begin = offsets_[block];
        const std::size_t size = offsets_[block + 1] - begin;
        order.resize(size);
        std::iota(order.begin(), order.end(), begin);
        SplitMix64 rng = make_stream(order_seed, block);
        shuffle(order.data(), size, rng);
        std::vector<std::int32_t> block_users(size), block_items(size);
        std::vector<float> block_scores(size);
        for (std::size_t k = 0; k < size; ++k) {
            block_users[k] = users_[order[k]];
            block_items[k] = items_[order[k]];
            block_scores[k] = scores_[order[k]];
        }
        std::copy(block_users.begin(), block_users.end(), users_.begin() + begin);
        std::copy(block_items.begin(), block_items.end(), items_.begin() + begin);
        std::copy(block_scores.begin(), block_scores.end(), scores_.begin() + begin);
    }
}

std::vector<std::size_t> BlockGrid::block_sizes() const {
    std::vector<std::size_t> sizes(offsets_.size() - 1);
    for (std::size_t block = 0; block + 1 < offsets_.size(); ++block) {
        sizes[block] = offsets_[block + 1] - offsets_[block];
    }
    return sizes;
}

}  // namespace pyanimf
