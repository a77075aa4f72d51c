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
// Storage. Each rating stores its user and anime as indices within the block's
// row group and column group: 16 bits each when every group has at most
// 65,536 members (8 bytes a rating with the score), 32 bits otherwise.
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
#include <type_traits>
#include <vector>

#include "common/random.hpp"
#include "common/uninitialized_vector.hpp"

namespace pyanimf {

// The affine map from the caller's scores to the scores the grid stores.
struct ScoreTransform {
    float shift = 0.0f;
    float scale = 1.0f;
};

// The input columns that the grid may destroy while it copies them, which
// lowers the peak memory of the copy. A destroyed column reads as zeros after.
struct InputRelease {
    bool ids = false;
    bool scores = false;
};

// The width of the grid's local indices: 16 bits where the groups allow
// (kAutomatic), or always 32 bits (kWide, to test that path on small data).
enum class IndexWidth { kAutomatic, kWide };

// Every anime each user rated or listed, as compressed sparse rows over the
// model's user rows: the anime rows of user u are items[indptr[u] .. indptr[u + 1]).
struct SeenSets {
    std::vector<std::int64_t> indptr;
    ColumnVector<std::int32_t> items;
};

class BlockGrid {
  public:
    // Copies the ratings (compact user index, anime index, score) into
    // block-major order, renumbering users and anime (see above). Rows whose
    // score is NaN (unrated) are kept apart for seen_sets() only, and the
    // others are stored as (score - shift) / scale, computed in float.
    // Indices must be in [0, n_users) and [0, n_items), even on unrated rows;
    // otherwise throws std::invalid_argument naming the first bad entry.
    // `threads` share the work, and the grid is the same for any count.
    // `release` names the input columns whose memory is given back while
    // they are copied (common/page_release.hpp).
    BlockGrid(const std::int32_t* users, const std::int32_t* items, const float* scores,
              std::size_t count, std::int32_t n_users, std::int32_t n_items, int grid_size,
              std::uint64_t seed, int threads = 1, ScoreTransform transform = {}, InputRelease release = {},
              IndexWidth width = IndexWidth::kAutomatic);

    int grid_size() const { return grid_size_; }
    std::size_t size() const { return scores_.size(); }
    std::int32_t n_users() const { return n_users_; }
    std::int32_t n_items() const { return n_items_; }
    // True once seen_sets() has taken the ratings; the grid cannot train then.
    bool emptied() const { return emptied_; }

    // Block (row_group, column_group) of stratum s is (r, (r + s) mod G).
    std::size_t block_of(int stratum, int row_group) const {
        const int column_group = (row_group + stratum) % grid_size_;
        return static_cast<std::size_t>(row_group) * grid_size_ + column_group;
    }
    std::size_t block_begin(std::size_t block) const { return offsets_[block]; }
    std::size_t block_end(std::size_t block) const { return offsets_[block + 1]; }

    // True when the local indices take 16 bits (std::uint16_t), false when
    // they take 32 (std::int32_t).
    bool narrow() const { return narrow_; }
    // The local user and anime index of each rating, block after block.
    // Index must match narrow().
    template <typename Index>
    const Index* local_users() const;
    template <typename Index>
    const Index* local_items() const;
    const float* scores() const { return scores_.data(); }
    // The model row of local index 0 in each group.
    std::int32_t first_user(std::size_t block) const { return user_begin_[block / grid_size_]; }
    std::int32_t first_item(std::size_t block) const { return item_begin_[block % grid_size_]; }

    // The ratings count of each block, row-major over the grid.
    std::vector<std::size_t> block_sizes() const;
    // The scored ratings of each user and anime, by model row.
    const std::vector<std::int64_t>& user_counts() const { return user_counts_; }
    const std::vector<std::int64_t>& item_counts() const { return item_counts_; }

    // New index of each user and anime index given to the constructor.
    const std::vector<std::int32_t>& user_permutation() const { return user_permutation_; }
    const std::vector<std::int32_t>& item_permutation() const { return item_permutation_; }

    // Computes the rating scale s_u of every user from the stored scores r_uj
    // with shrinkage k > 0, then divides each stored score by its user's s_u,
    // so that SGD trains on r_uj / s_u:
    //   m_u = sum_j r_uj / (n_u + k),  s_u = sqrt((sum_j (r_uj - m_u)^2 + k) / (n_u + k)).
    // Returns s_u by model row, rounded to float; a user without scores gets
    // 1. Each row group sums its users' scores in double, in the grid's
    // order, so the result is the same for any thread count. Throws
    // std::invalid_argument for k <= 0 or NaN, and std::logic_error on an
    // emptied grid or a second call.
    std::vector<float> divide_by_user_scale(double shrinkage, int threads);
    bool user_scaled() const { return user_scaled_; }

    // The anime of every user's scored and unrated rows, then those of the
    // `extra` (user row, anime row) pairs, in model rows. It takes the
    // grid's ratings and frees them a row group at a time, so the peak
    // contains little more than the larger of the two. The grid is emptied()
    // afterwards.
    // Each user's anime come in a fixed order: the grid's blocks in order,
    // then the unrated rows, then the extra pairs. Throws
    // std::invalid_argument for an extra pair out of range and
    // std::logic_error on an emptied grid.
    SeenSets seen_sets(const std::int32_t* extra_users, const std::int32_t* extra_items, std::size_t extra_count,
                       int threads);
    // The anime of every user's scored and unrated rows, in the order of
    // seen_sets(), leaving the grid as it is. Throws std::logic_error on an
    // emptied grid.
    SeenSets listed_sets(int threads) const;

  private:
    // Puts each block's ratings into their visiting order (block_grid.cpp).
    template <typename Index>
    void order_blocks(Index* users, Index* items, std::uint64_t seed, int threads);
    // divide_by_user_scale for the local user indices of type Index.
    template <typename Index>
    void divide_scores_by_user(const Index* users, double shrinkage, std::vector<float>& scales, int threads);
    // The lists of seen_sets() and listed_sets(); `release` gives the
    // ratings' memory back as they are read.
    SeenSets collect_lists(const std::int32_t* extra_users, const std::int32_t* extra_items, std::size_t extra_count,
                           int threads, bool release) const;
    // Appends the grid's ratings to `seen` (see seen_sets).
    template <typename Index>
    void gather_seen(const Index* users, const Index* items, SeenSets& seen, std::vector<std::int64_t>& cursor,
                     int threads, bool release) const;

    int grid_size_;
    std::int32_t n_users_;
    std::int32_t n_items_;
    bool narrow_ = true;
    bool emptied_ = false;
    bool user_scaled_ = false;
    std::vector<std::size_t> offsets_;  // G*G + 1 entries
    ColumnVector<std::uint16_t> narrow_users_;
    ColumnVector<std::uint16_t> narrow_items_;
    ColumnVector<std::int32_t> wide_users_;
    ColumnVector<std::int32_t> wide_items_;
    ColumnVector<float> scores_;
    // The unrated rows, in model rows and input order.
    std::vector<std::int32_t> unrated_users_;
    std::vector<std::int32_t> unrated_items_;
    std::vector<std::int32_t> user_begin_;  // G + 1 entries
    std::vector<std::int32_t> item_begin_;
    std::vector<std::int64_t> user_counts_;
    std::vector<std::int64_t> item_counts_;
    std::vector<std::int32_t> user_permutation_;
    std::vector<std::int32_t> item_permutation_;
};

template <>
inline const std::uint16_t* BlockGrid::local_users<std::uint16_t>() const { return narrow_users_.data(); }
template <>
inline const std::uint16_t* BlockGrid::local_items<std::uint16_t>() const { return narrow_items_.data(); }
template <>
inline const std::int32_t* BlockGrid::local_users<std::int32_t>() const { return wide_users_.data(); }
template <>
inline const std::int32_t* BlockGrid::local_items<std::int32_t>() const { return wide_items_.data(); }

}  // namespace pyanimf
