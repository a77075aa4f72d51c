"""How the block grid stores ratings: 16- or 32-bit local indices, input it
releases while copying, and the seen sets it hands over after training."""

import sys

import numpy as np
import pytest

from pyanimf import _core

N_USERS = 3_000
N_ANIME = 500


def _ratings(count=300_000, n_users=N_USERS, n_anime=N_ANIME, seed=0):
    """Random ratings with about 10% unrated rows (NaN)."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, count).astype(np.int32)
    anime = rng.integers(0, n_anime, count).astype(np.int32)
    scores = rng.integers(1, 11, count).astype(np.float32)
    scores[rng.random(count) < 0.1] = np.nan
    return users, anime, scores


def _grid(users, anime, scores, n_users=N_USERS, n_anime=N_ANIME, grid_size=4, **options):
    return _core.BlockGrid(users, anime, scores, n_users, n_anime, grid_size, 7, **options)


def _train(grid, n_users=N_USERS, n_anime=N_ANIME):
    arrays = _core.ModelArrays(n_users, n_anime, 32)
    arrays.fill_uniform(0.1, 3, 1)
    result = _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0, threads=2)
    return (np.array(arrays.user_factors), np.array(arrays.item_factors), np.array(arrays.user_bias),
            np.array(arrays.item_bias), result["count"])


def _no_extra():
    return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)


def _sorted_pairs(indptr, anime_rows):
    """The (user row, anime row) pairs of CSR seen sets, sorted."""
    user_rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    order = np.lexsort((anime_rows, user_rows))
    return user_rows[order], anime_rows[order]


def _expected_pairs(grid, users, anime, extra_users=(), extra_anime=()):
    """The seen sets the grid should give, from the caller's indices, sorted."""
    user_rows = np.concatenate([grid.user_permutation()[users], np.asarray(extra_users, np.int32)])
    anime_rows = np.concatenate([grid.item_permutation()[anime], np.asarray(extra_anime, np.int32)])
    order = np.lexsort((anime_rows, user_rows))
    return user_rows[order], anime_rows[order]


def test_wide_indices_train_as_narrow_ones():
    users, anime, scores = _ratings()
    narrow = _grid(users, anime, scores)
    wide = _grid(users, anime, scores, narrow_indices=False)
    assert narrow.narrow
    assert not wide.narrow
    for expected, actual in zip(_train(narrow), _train(wide)):
        np.testing.assert_array_equal(actual, expected)
    for expected, actual in zip(narrow.seen_sets(*_no_extra()), wide.seen_sets(*_no_extra())):
        np.testing.assert_array_equal(actual, expected)


def test_group_over_16_bits_gets_wide_indices():
    # One group of 70,000 users: 16-bit local indices would wrap around.
    n_users = 70_000
    users = np.repeat(np.arange(n_users, dtype=np.int32), 2)
    anime = np.tile(np.array([0, 1], dtype=np.int32), n_users)
    scores = np.full(len(users), 5.0, dtype=np.float32)
    grid = _grid(users, anime, scores, n_users=n_users, n_anime=2, grid_size=1)
    assert not grid.narrow
    assert _train(grid, n_users=n_users, n_anime=2)[-1] == len(users)
    for actual, expected in zip(_sorted_pairs(*grid.seen_sets(*_no_extra())), _expected_pairs(grid, users, anime)):
        np.testing.assert_array_equal(actual, expected)


def test_counts_by_model_row():
    users, anime, scores = _ratings()
    grid = _grid(users, anime, scores)
    rated = ~np.isnan(scores)
    user_counts = np.bincount(grid.user_permutation()[users[rated]], minlength=N_USERS)
    anime_counts = np.bincount(grid.item_permutation()[anime[rated]], minlength=N_ANIME)
    np.testing.assert_array_equal(grid.user_counts(), user_counts)
    np.testing.assert_array_equal(grid.item_counts(), anime_counts)


def test_released_input_same_grid():
    users, anime, scores = _ratings()
    kept = _grid(users, anime, scores)
    given_up = [users.copy(), anime.copy(), scores.copy()]
    released = _grid(*given_up, release_ids=True, release_scores=True, threads=2)
    for expected, actual in zip(_train(kept), _train(released)):
        np.testing.assert_array_equal(actual, expected)
    if sys.platform == "linux":
        # Only pages shared with the other thread's part or the array's ends stay.
        for column in given_up:
            assert np.count_nonzero(column) < len(column) // 50


def test_release_needs_writeable_input():
    users, anime, scores = _ratings(count=1_000)
    users.flags.writeable = False
    with pytest.raises(ValueError, match="users: expected a writeable array"):
        _grid(users, anime, scores, release_ids=True)
    scores.flags.writeable = False
    with pytest.raises(ValueError, match="scores: expected a writeable array"):
        _grid(users.copy(), anime, scores, release_scores=True)


def test_seen_sets_include_unrated_and_extra():
    users, anime, scores = _ratings(count=50_000)
    grid = _grid(users, anime, scores)
    extra_users = np.array([5, 5, 17], dtype=np.int32)
    extra_anime = np.array([3, 499, 0], dtype=np.int32)
    indptr, anime_rows = grid.seen_sets(extra_users, extra_anime)
    for actual, expected in zip(_sorted_pairs(indptr, anime_rows),
                                _expected_pairs(grid, users, anime, extra_users, extra_anime)):
        np.testing.assert_array_equal(actual, expected)
    # The extra pairs come last among their user's anime, in input order.
    np.testing.assert_array_equal(anime_rows[indptr[6] - 2:indptr[6]], [3, 499])
    assert anime_rows[indptr[18] - 1] == 0


def test_seen_sets_same_for_any_thread_count():
    users, anime, scores = _ratings(count=100_000)
    results = [_grid(users, anime, scores).seen_sets(*_no_extra(), threads=threads) for threads in (1, 2, 3)]
    for other in results[1:]:
        for expected, actual in zip(results[0], other):
            np.testing.assert_array_equal(actual, expected)


def test_seen_sets_empty_the_grid():
    users, anime, scores = _ratings(count=10_000)
    grid = _grid(users, anime, scores)
    grid.seen_sets(*_no_extra())
    assert grid.emptied
    with pytest.raises(ValueError, match=r"seen_sets\(\) took its ratings"):
        _train(grid)
    with pytest.raises(ValueError, match="an earlier call took this grid's ratings"):
        grid.seen_sets(*_no_extra())


def test_seen_sets_reject_bad_extra_pair():
    users, anime, scores = _ratings(count=10_000)
    grid = _grid(users, anime, scores)
    with pytest.raises(ValueError, match=r"extra items: expected indices in \[0, 500\), got 500 at position 1"):
        grid.seen_sets(np.array([0, 1], dtype=np.int32), np.array([0, 500], dtype=np.int32))
    assert not grid.emptied
