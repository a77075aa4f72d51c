"""Factor storage, the block grid and argument checks of the native core."""

import sys

import numpy as np
import pytest

from pyanimf import _core


def test_factor_rows_aligned_and_padded():
    arrays = _core.ModelArrays(5, 7, 100)
    assert arrays.stride == 112
    factors = arrays.user_factors
    assert factors.shape == (5, 100)
    assert factors.strides == (112 * 4, 4)
    assert factors.ctypes.data % 64 == 0
    assert arrays.item_factors.ctypes.data % 64 == 0


def test_large_factors_zeroed_and_aligned():
    # 5,000 rows of 128 floats take 2.4 MiB, enough for the huge-page path,
    # which rounds the buffer up to whole 2 MiB pages.
    arrays = _core.ModelArrays(5000, 3, 128)
    factors = arrays.user_factors
    assert factors.ctypes.data % (2 << 20) == 0
    assert not factors.any()
    factors[-1] = 1.0
    assert factors[-1].sum() == 128
    assert not factors[:-1].any()


def test_factor_view_shares_memory():
    arrays = _core.ModelArrays(2, 2, 16)
    arrays.user_factors[1, 3] = 2.5
    assert arrays.user_factors[1, 3] == 2.5
    assert np.shares_memory(arrays.user_factors, arrays.user_factors)
    assert arrays.user_factors.base is not None


def test_factor_view_outlives_model_object():
    view = _core.ModelArrays(3, 3, 8).item_factors
    view[:] = 1.0
    assert view.sum() == 24.0


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 5, 8), "n_users: expected 1 to"),
        ((5, 0, 8), "n_items: expected 1 to"),
        ((5, 5, 0), "dim: expected 1 to 65536, got 0"),
    ],
)
def test_model_arrays_rejects_bad_shape(args, message):
    with pytest.raises(ValueError, match=message):
        _core.ModelArrays(*args)


def small_grid_inputs():
    users = np.array([0, 1, 2, 1], dtype=np.int32)
    items = np.array([0, 1, 0, 2], dtype=np.int32)
    scores = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    return users, items, scores


def _filled(threads, seed=3, half_width=0.5, shape=(37, 41, 100)):
    arrays = _core.ModelArrays(*shape)
    arrays.fill_uniform(half_width, seed, threads)
    return arrays


def test_fill_uniform_same_for_any_thread_count():
    single_thread = _filled(1)
    for threads in (2, 3):
        other = _filled(threads)
        assert np.array_equal(single_thread.user_factors, other.user_factors)
        assert np.array_equal(single_thread.item_factors, other.item_factors)


def test_fill_uniform_range_spread_and_padding():
    arrays = _filled(2, shape=(400, 300, 100))
    values = np.concatenate([arrays.user_factors.ravel(), arrays.item_factors.ravel()])
    assert values.min() >= -0.5
    assert values.max() < 0.5
    # Uniform on [-h, h): mean 0, standard deviation h / sqrt(3).
    assert abs(values.mean()) < 0.005
    assert values.std() == pytest.approx(0.5 / np.sqrt(3), rel=0.01)
    # The 12 padding floats of each 112-float row stay zero.
    assert not padded_rows(arrays.user_factors, arrays.stride)[:, 100:].any()


def padded_rows(factors, stride):
    """View a factor matrix with each row's padding floats included."""
    return np.lib.stride_tricks.as_strided(factors, shape=(len(factors), stride), strides=(stride * 4, 4))


@pytest.mark.parametrize("threads", [1, 3])
def test_uniform_arrays_match_fill_uniform(threads):
    expected = _filled(1)
    for _ in range(5):
        # Memory just freed by other arrays contains nonzero values, which the
        # factory must overwrite, padding included.
        freed = np.full(37 * 112 + 41 * 112, 7.0, dtype=np.float32)
        del freed
        arrays = _core.ModelArrays.uniform(37, 41, 100, 0.5, 3, threads)
        assert np.array_equal(arrays.user_factors, expected.user_factors)
        assert np.array_equal(arrays.item_factors, expected.item_factors)
        assert not padded_rows(arrays.user_factors, arrays.stride)[:, 100:].any()
        assert not padded_rows(arrays.item_factors, arrays.stride)[:, 100:].any()
        assert not arrays.user_bias.any()
        assert not arrays.item_bias.any()


def test_fill_uniform_depends_on_seed_and_side():
    first, second = _filled(1, seed=3), _filled(1, seed=4)
    assert not np.array_equal(first.user_factors, second.user_factors)
    # Users and anime draw from different streams.
    assert not np.array_equal(first.user_factors[:37], first.item_factors[:37])


@pytest.mark.parametrize("half_width", [-1.0, float("nan"), float("inf")])
def test_fill_uniform_rejects_bad_width(half_width):
    with pytest.raises(ValueError, match="half_width: expected a non-negative finite number"):
        _core.ModelArrays(2, 2, 4).fill_uniform(half_width, 0, 1)


def test_block_grid_rejects_out_of_range_user():
    users, items, scores = small_grid_inputs()
    users[2] = 3
    with pytest.raises(ValueError, match=r"users: expected indices in \[0, 3\), got 3 at position 2"):
        _core.BlockGrid(users, items, scores, 3, 3, 2, 0)


def test_block_grid_rejects_negative_item():
    users, items, scores = small_grid_inputs()
    items[0] = -1
    with pytest.raises(ValueError, match="items: expected indices in"):
        _core.BlockGrid(users, items, scores, 3, 3, 2, 0)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_block_grid_names_first_bad_index_on_threads(threads):
    # Enough rows for every thread to count a part; the bad entries lie in later parts.
    count = 400_000
    users = np.arange(count, dtype=np.int32) % 50
    items = np.arange(count, dtype=np.int32) % 40
    scores = np.ones(count, dtype=np.float32)
    items[150_000] = 40
    users[390_000] = -7
    users[395_000] = 99
    # Users are checked before anime, so the later bad user is the one named.
    with pytest.raises(ValueError, match=r"users: expected indices in \[0, 50\), got -7 at position 390000"):
        _core.BlockGrid(users, items, scores, 50, 40, 2, 0, threads)
    users[390_000] = 1
    users[395_000] = 1
    with pytest.raises(ValueError, match=r"items: expected indices in \[0, 40\), got 40 at position 150000"):
        _core.BlockGrid(users, items, scores, 50, 40, 2, 0, threads)


def test_block_grid_rejects_int64_indices():
    users, items, scores = small_grid_inputs()
    with pytest.raises(TypeError, match="users: expected dtype int32, got int64"):
        _core.BlockGrid(users.astype(np.int64), items, scores, 3, 3, 2, 0)


def test_block_grid_rejects_length_mismatch():
    users, items, scores = small_grid_inputs()
    with pytest.raises(ValueError, match=r"scores: expected the length of users \(4\), got 3"):
        _core.BlockGrid(users, items, scores[:3], 3, 3, 2, 0)


def test_block_grid_rejects_zero_grid_size():
    users, items, scores = small_grid_inputs()
    with pytest.raises(ValueError, match="grid_size: expected 1 to 1024, got 0"):
        _core.BlockGrid(users, items, scores, 3, 3, 0, 0)


def test_block_grid_keeps_every_rating():
    rng = np.random.default_rng(0)
    users = rng.integers(0, 300, size=20000).astype(np.int32)
    items = rng.integers(0, 200, size=20000).astype(np.int32)
    scores = rng.random(20000).astype(np.float32)
    grid = _core.BlockGrid(users, items, scores, 300, 200, 8, 1)
    sizes = grid.block_sizes()
    assert sizes.shape == (8, 8)
    assert sizes.sum() == 20000
    # Groups are filled to 1/8 of the ratings each, so no block is far from
    # the mean of 20000 / 64.
    assert sizes.max() < 2 * sizes.mean()


def test_block_grid_same_for_any_thread_count():
    # The visiting order inside each block decides the trained factors, so
    # equal factors after one epoch mean the grids are the same.
    # More than 3 x 65,536 rows, so 2 and 3 threads split the counting sort.
    rng = np.random.default_rng(1)
    users = rng.integers(0, 300, size=200_003).astype(np.int32)
    items = rng.integers(0, 200, size=200_003).astype(np.int32)
    scores = rng.standard_normal(200_003).astype(np.float32)
    scores[rng.random(200_003) < 0.1] = np.nan
    trained = []
    for threads in (1, 2, 3):
        grid = _core.BlockGrid(users, items, scores, 300, 200, 8, 5, threads=threads)
        arrays = _core.ModelArrays(300, 200, 16)
        arrays.fill_uniform(0.1, 5, 1)
        _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0)
        trained.append((grid.user_permutation(), np.array(arrays.user_factors), np.array(arrays.item_factors)))
    for other in trained[1:]:
        for expected, actual in zip(trained[0], other):
            assert np.array_equal(expected, actual)


def _one_epoch_factors(users, items, scores, **transform):
    grid = _core.BlockGrid(users, items, scores, 300, 200, 8, 5, **transform)
    arrays = _core.ModelArrays(300, 200, 16)
    arrays.fill_uniform(0.1, 5, 1)
    _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0)
    return grid.size, np.array(arrays.user_factors), np.array(arrays.item_factors)


def test_block_grid_leaves_out_nan_and_transforms():
    rng = np.random.default_rng(2)
    users = rng.integers(0, 300, size=5000).astype(np.int32)
    items = rng.integers(0, 200, size=5000).astype(np.int32)
    scores = rng.integers(1, 11, size=5000).astype(np.float32)
    unrated = rng.random(5000) < 0.2
    with_nan = scores.copy()
    with_nan[unrated] = np.nan
    # The grid must train as if given only the rated rows, already standardised.
    expected = _one_epoch_factors(
        users[~unrated], items[~unrated], (scores[~unrated] - np.float32(7.5)) / np.float32(2.0)
    )
    actual = _one_epoch_factors(users, items, with_nan, shift=7.5, scale=2.0)
    assert actual[0] == expected[0] == np.count_nonzero(~unrated)
    assert np.array_equal(actual[1], expected[1])
    assert np.array_equal(actual[2], expected[2])


@pytest.mark.parametrize(
    "transform, message",
    [
        ({"scale": 0.0}, "scale: expected a positive finite number"),
        ({"scale": float("nan")}, "scale: expected a positive finite number"),
        ({"shift": float("inf")}, "shift: expected a finite number"),
    ],
)
def test_block_grid_rejects_bad_transform(transform, message):
    users, items, scores = small_grid_inputs()
    with pytest.raises(ValueError, match=message):
        _core.BlockGrid(users, items, scores, 3, 3, 2, 0, **transform)


def test_block_grid_rejects_zero_threads():
    users, items, scores = small_grid_inputs()
    with pytest.raises(ValueError, match="threads: expected 1 to 4096, got 0"):
        _core.BlockGrid(users, items, scores, 3, 3, 2, 0, threads=0)


def test_run_epoch_rejects_grid_of_other_shape():
    users, items, scores = small_grid_inputs()
    grid = _core.BlockGrid(users, items, scores, 3, 3, 2, 0)
    arrays = _core.ModelArrays(4, 3, 8)
    with pytest.raises(ValueError, match="grid: expected 4 users and 3 anime"):
        _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0)


def test_run_epoch_rejects_zero_threads():
    users, items, scores = small_grid_inputs()
    grid = _core.BlockGrid(users, items, scores, 3, 3, 2, 0)
    arrays = _core.ModelArrays(3, 3, 8)
    with pytest.raises(ValueError, match="threads: expected 1 to 4096, got 0"):
        _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0, threads=0)


def test_settings_reject_unknown_output():
    settings = _core.SgdSettings()
    with pytest.raises(ValueError, match="output: expected 'identity' or 'sigmoid', got 'relu'"):
        settings.output = "relu"


def test_predict_rejects_out_of_range_item():
    arrays = _core.ModelArrays(3, 3, 8)
    with pytest.raises(ValueError, match=r"items: expected indices in \[0, 3\), got 5"):
        _core.predict(arrays, _core.SgdSettings(), 1.0, 0.0,
                      np.array([0], dtype=np.int32), np.array([5], dtype=np.int32))


def test_top_n_skips_excluded_and_sorts():
    arrays = _core.ModelArrays(1, 5, 4)
    arrays.item_bias[:] = [0.1, 0.5, 0.3, 0.9, 0.7]
    settings = _core.SgdSettings()
    indices, scores = _core.top_n_items(arrays, settings, 1.0, 0.0, 0, np.array([3], dtype=np.int32), 3)
    assert list(indices) == [4, 1, 2]
    assert list(np.round(scores, 5)) == [0.7, 0.5, 0.3]


def test_top_n_larger_than_catalogue_returns_all():
    arrays = _core.ModelArrays(1, 4, 4)
    indices, _ = _core.top_n_items(arrays, _core.SgdSettings(), 1.0, 0.0, 0,
                                   np.array([0], dtype=np.int32), 100)
    assert sorted(indices) == [1, 2, 3]


def test_most_similar_excludes_query():
    arrays = _core.ModelArrays(1, 4, 2)
    arrays.item_factors[:] = [[1, 0], [0.9, 0.1], [0, 1], [-1, 0]]
    rows, similarity = _core.most_similar(arrays, "items", 0, 3)
    assert list(rows) == [1, 2, 3]
    assert similarity[0] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert similarity[2] == pytest.approx(-1.0)


def test_worker_thread_exception_reaches_python():
    with pytest.raises(RuntimeError, match="worker 37 failed on purpose"):
        _core.raise_in_worker(2, 37)


def test_worker_threads_without_error_return():
    _core.raise_in_worker(2, -1)


def _build_large_arrays():
    _core.ModelArrays(100_000, 1_000, 64)  # 26 MB of factors


@pytest.mark.skipif(sys.platform != "linux", reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+ warns about fork with threads
def test_model_arrays_in_child_forked_after_threads(run_forked):
    # GNU OpenMP hangs in a child forked after the parent ran a parallel
    # region, so what Model.load allocates must not start one.
    _core.score_summary(np.ones(1_000_000, dtype=np.float32), 2)
    hung, exitcode = run_forked(_build_large_arrays)
    assert not hung
    assert exitcode == 0
