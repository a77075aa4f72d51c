// The implicit term: the anime on a user's list, scored or not, as a second
// description of the user, in the manner of SVD++.
//
// Each anime j has a second row y_j (ModelArrays::implicit_items). The user
// vector in every prediction is x_u + z_u with
//     z_u = |N(u)|^(-1/2) * sum over j in N(u) of y_j,
// N(u) being the anime of all the user's training rows, the unrated (`-1`)
// ones included. Only x_u is penalised.
//
// Updating every y_j of a user's list at each of the user's ratings, as
// SVD++ does, would make one rating's step touch rows of every column
// group, which the conflict-free grid forbids. So z stays fixed during an
// epoch. The model's user rows contain x_u + z_u. The SGD kernels penalise
// only the x_u part and sum each user's gradient of z_u in G (sgd/block_loop.hpp).
// After the epoch every y_j takes one step along the mean of its gradient
// over the M(j) users whose list contains j,
//     y_j += step / |M(j)| * sum over u in M(j) of |N(u)|^(-1/2) * G_u,
// z is recomputed from the new y, each user row moves by the change of its
// z, and G returns to zero. Each output row is summed by one thread in a
// fixed order, so the result does not depend on the thread count. Training
// (pyanimf/training.py) takes it before each epoch but the first, so no step
// follows the last epoch.
//
// Why the mean: all users' gradients of one epoch act at once, so a step
// along their sum grows with the number of users. With the sum, a step that
// trained well on 520,000 ratings diverged on 7.8 million, and with the
// mean, one step size trained well from 520,000 to 57 million ratings
// (bench/RESULTS.md).
#pragma once

#include <cstdint>
#include <vector>

#include "common/uninitialized_vector.hpp"
#include "model/model_arrays.hpp"
#include "scheduler/block_grid.hpp"

namespace pyanimf {

// The lists N(u) by user and by anime, in model rows.
struct ImplicitLists {
    // The anime of user u: user_items[user_indptr[u] .. user_indptr[u + 1]).
    std::vector<std::int64_t> user_indptr;
    ColumnVector<std::int32_t> user_items;
    // The users of anime j: item_users[item_indptr[j] .. item_indptr[j + 1]), ascending.
    std::vector<std::int64_t> item_indptr;
    ColumnVector<std::int32_t> item_users;
    // |N(u)|^(-1/2), or 0 for a user with an empty list.
    std::vector<float> user_weight;
};

// Builds the lists from each user's anime (BlockGrid::listed_sets), taking
// them over. Throws std::invalid_argument for an anime row outside [0, n_items).
ImplicitLists make_implicit_lists(SeenSets listed, std::int32_t n_items);

// The step after an epoch described above, with step size `step`. Returns
// false when a user row became NaN or infinite, so the step diverged.
// Throws std::invalid_argument when the model's implicit term is off or its
// shape does not match the lists.
bool implicit_epoch_end(const ImplicitLists& lists, ModelArrays& model, float step, int threads);

}  // namespace pyanimf
