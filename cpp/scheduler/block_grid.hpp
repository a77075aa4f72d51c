// The conflict-free schedule of parallel SGD.
//
// Grid. Users are split into G row groups and anime into G column groups, so
// the rating matrix becomes G x G blocks. G is a setting (by default chosen
// from the number of anime, see pyanimf.model.automatic_grid_size) and does
// not depend on the thread count. Users and anime are assigned to groups in a
// seeded random order, filling each group up to 1/G of the ratings, so blocks
// hold similar numbers of ratings and no group collects all the popular anime.
// The grid renumbers users and anime so that each group is one contiguous
// range of rows: the 4-byte biases of different groups then share at most
// the one cache line at each group boundary, instead of threads writing the
// same lines all the time (false sharing). The model's rows follow the new
// numbering; user_permutation() maps the caller's index to it.
//
// Strata. Stratum s (0 <= s < G) holds the G blocks (r, (r + s) mod G) for
// r = 0 .. G-1. No two blocks of one stratum share a row group or a column
// group, so they touch disjoint user rows, disjoint anime rows and disjoint
// bias entries, and the kernels need no locks or atomics.
//
// Order. An epoch visits the strata in an order drawn from (seed, epoch)
// and creates one OpenMP task per block, stratum by stratum. Each task
// depends on a token of its row group and one of its column group
// (sgd/epoch.cpp), so a block runs only after every block created before it
// on the same row group or column group, and never beside one of them. No
// two threads ever write the same row at the same time, yet there is no
// barrier between strata: a thread that the operating system deschedules
// holds up only the blocks that wait for its own.
//
// Determinism. Inside a block the ratings are visited in a fixed order chosen
// at construction from the seed. Every row group and every column group sees
// the same sequence of blocks whatever the thread count, and a block's
// result depends only on the rows it reads and writes, so the trained model
// is bit-identical for any thread count. The output layer's weight and bias,
// which every rating reads, are shared: each block trains its own copy,
// starting from the value at the start of the epoch, and after the epoch the
// copies' changes are averaged in block order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/random.hpp"
#include "common/uninitialized_vector.hpp"

namespace pyanimf {

// The affine map from the caller's scores to the scores the grid stores.
struct ScoreTransform {
    float shift = 0.0f;
    float scale = 1.0f;
};

class BlockGrid {
  public:
    // Copies the ratings (compact user index, anime index, score) into
    // block-major order, renumbering users and anime (see above). Rows whose
    // score is NaN (unrated) are left out, and the others are stored as
    // (score - shift) / scale, computed in float. Indices must be in
    // [0, n_users) and [0, n_items), even on unrated rows; otherwise throws
    // std::invalid_argument naming the first bad entry. `threads` share the
    // work, and the grid is the same for any count.
    BlockGrid(const std::int32_t* users, const std::int32_t* items, const float* scores,
              std::size_t count, std::int32_t n_users, std::int32_t n_items, int grid_size,
              std::uint64_t seed, int threads = 1, ScoreTransform transform = {});

    int grid_size() const { return grid_size_; }
    std::size_t size() const { return scores_.size(); }
    std::int32_t n_users() const { return n_users_; }
    std::int32_t n_items() const { return n_items_; }

    // Block (row_group, column_group) of stratum s is (r, (r + s) mod G).
    std::size_t block_of(int stratum, int row_group) const {
        const int column_group = (row_group + stratum) % grid_size_;
        return static_cast<std::size_t>(row_group) * grid_size_ + column_group;
    }
    std::size_t block_begin(std::size_t block) const { return offsets_[block]; }
    std::size_t block_end(std::size_t block) const { return offsets_[block + 1]; }

    const std::int32_t* users() const { return users_.data(); }
    const std::int32_t* items() const { return items_.data(); }
    const float* scores() const { return scores_.data(); }

    // The ratings count of each block, row-major over the grid.
    std::vector<std::size_t> block_sizes() const;

    // New index of each user and anime index given to the constructor.
    const std::vector<std::int32_t>& user_permutation() const { return user_permutation_; }
    const std::vector<std::int32_t>& item_permutation() const { return item_permutation_; }

  private:
    // Puts the ratings of `block` into their visiting order. The vectors are
    // scratch space, reused across blocks.
    void order_block(std::size_t block, const std::vector<std::int32_t>& user_begin, SplitMix64 rng,
                     std::vector<std::int32_t>& block_users, std::vector<std::int32_t>& block_items,
                     std::vector<float>& block_scores);

    int grid_size_;
    std::int32_t n_users_;
    std::int32_t n_items_;
    std::vector<std::size_t> offsets_;  // G*G + 1 entries
    ColumnVector<std::int32_t> users_;
    ColumnVector<std::int32_t> items_;
    ColumnVector<float> scores_;
    std::vector<std::int32_t> user_permutation_;
    std::vector<std::int32_t> item_permutation_;
};

}  // namespace pyanimf
