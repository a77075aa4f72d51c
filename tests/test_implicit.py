"""The implicit term: each user's listed anime, scored or not, as in SVD++ (cpp/sgd/implicit.hpp)."""

import numpy as np
import pytest

from pyanimf import Model, _core
from pyanimf.ratings import Ratings

from test_kernels import KERNELS, one_rating_grid, one_rating_model, train_epochs


def listed_grid():
    """Four users and five anime. User 2 has only unrated rows, and anime 4 only an unrated row."""
    users = np.array([0, 0, 0, 1, 1, 2, 2, 3], dtype=np.int32)
    items = np.array([0, 1, 4, 1, 2, 0, 3, 3], dtype=np.int32)
    scores = np.array([0.5, -0.2, np.nan, 0.1, 0.9, np.nan, np.nan, -0.4], dtype=np.float32)
    return _core.BlockGrid(users, items, scores, 4, 5, 2, 7), users, items


def model_lists(grid, users, items):
    """Each model row's listed anime, as model rows."""
    user_rows = grid.user_permutation()[users]
    item_rows = grid.item_permutation()[items]
    return [sorted(item_rows[user_rows == u].tolist()) for u in range(grid.n_users)]


def random_implicit_arrays(n_users, n_items, dim, seed=0):
    rng = np.random.default_rng(seed)
    arrays = _core.ModelArrays(n_users, n_items, dim)
    arrays.enable_implicit()
    arrays.user_factors[:] = rng.normal(0, 0.3, size=(n_users, dim))
    arrays.implicit_items[:] = rng.normal(0, 0.3, size=(n_items, dim))
    arrays.implicit_sums[:] = rng.normal(0, 0.3, size=(n_users, dim))
    arrays.implicit_gradients[:] = rng.normal(0, 0.3, size=(n_users, dim))
    return arrays


def test_lists_hold_scored_and_unrated_rows():
    grid, users, items = listed_grid()
    lists = _core.ImplicitLists(grid)
    assert (lists.n_users, lists.n_items, lists.size) == (4, 5, 8)
    # The grid can still train after the lists were taken.
    assert not grid.emptied
    assert grid.size == 5


def test_epoch_end_matches_numpy():
    grid, users, items = listed_grid()
    lists = _core.ImplicitLists(grid)
    arrays = random_implicit_arrays(4, 5, 20)
    y, z, g = arrays.implicit_items.copy(), arrays.implicit_sums.copy(), arrays.implicit_gradients.copy()
    rows = arrays.user_factors.copy()
    listed = model_lists(grid, users, items)
    weight = [1 / np.sqrt(len(anime)) for anime in listed]
    step = 0.05

    _core.implicit_epoch_end(lists, arrays, step)

    listers = np.zeros(5)
    for anime in listed:
        listers[anime] += 1
    expected_y = y.astype(np.float64)
    for u, anime in enumerate(listed):
        for j in anime:
            expected_y[j] += step / listers[j] * weight[u] * g[u]
    expected_z = np.array([weight[u] * expected_y[anime].sum(axis=0) for u, anime in enumerate(listed)])
    np.testing.assert_allclose(arrays.implicit_items, expected_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.implicit_sums, expected_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.user_factors, rows - z + expected_z, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(arrays.implicit_gradients, 0.0)


def test_epoch_end_rejects_arrays_without_the_term():
    grid, _, _ = listed_grid()
    lists = _core.ImplicitLists(grid)
    with pytest.raises(ValueError, match="implicit term is off"):
        _core.implicit_epoch_end(lists, _core.ModelArrays(4, 5, 8), 0.1)
    other_shape = _core.ModelArrays(3, 5, 8)
    other_shape.enable_implicit()
    with pytest.raises(ValueError, match="the lists cover 4 users and 5 anime, the model 3 and 5"):
        _core.implicit_epoch_end(lists, other_shape, 0.1)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", [32, 100, 128])
def test_implicit_step_matches_numpy(kernel, dim):
    arrays, settings = one_rating_model(dim, "identity")
    arrays.enable_implicit()
    rng = np.random.default_rng(5)
    arrays.implicit_sums[:] = rng.normal(0, 0.3, size=(2, dim))
    grid = one_rating_grid()
    u, i = grid.user_permutation()[1], grid.item_permutation()[2]
    p = arrays.user_factors[u].astype(np.float64)
    q = arrays.item_factors[i].astype(np.float64)
    z_u = arrays.implicit_sums[u].astype(np.float64)
    weight, bias = 0.9, 0.05
    offset = bias + arrays.global_mean + arrays.user_bias[u] + arrays.item_bias[i]
    g = (0.8 - (weight * (p @ q) + offset)) * weight
    lr, reg = settings.learning_rate, settings.regularization

    _core.run_epoch(grid, arrays, settings, weight, bias, kernel=kernel, threads=1)

    # The user row contains x_u + z_u, and only x_u = p - z_u is penalised.
    np.testing.assert_allclose(arrays.user_factors[u], p + lr * (g * q - reg * (p - z_u)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.item_factors[i], q + lr * (g * p - reg * q), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(arrays.implicit_gradients[u], g * q, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(arrays.implicit_gradients[1 - u], 0.0)


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("dim", [32, 100])
@pytest.mark.parametrize("output", ["identity", "sigmoid"])
def test_implicit_training_matches_scalar(kernel, dim, output):
    trained, _, _ = train_epochs(kernel, dim, output, implicit_step=0.5)
    expected, _, _ = train_epochs("scalar", dim, output, implicit_step=0.5)
    for name in ("user_factors", "item_factors", "implicit_items", "implicit_sums"):
        np.testing.assert_allclose(getattr(trained, name), getattr(expected, name), rtol=1e-4, atol=1e-5)
    assert np.abs(trained.implicit_items).max() > 0


def fit(ratings, **settings):
    return Model(dim=40, epochs=3, seed=11, **settings).fit(ratings)


@pytest.mark.parametrize("threads", [2, 3])
def test_implicit_model_thread_independent(small_ratings, threads):
    single = fit(small_ratings, threads=1, implicit=True)
    several = fit(small_ratings, threads=threads, implicit=True)
    assert single.fit_report_.implicit and several.fit_report_.implicit
    np.testing.assert_array_equal(single.user_factors, several.user_factors)
    np.testing.assert_array_equal(single.anime_factors, several.anime_factors)
    np.testing.assert_array_equal(single.user_bias, several.user_bias)
    assert single.output_layer == several.output_layer


def test_automatic_setting_follows_unrated_rows(small_ratings):
    assert small_ratings.n_rated < len(small_ratings)
    with_unrated = fit(small_ratings, threads=1)
    assert with_unrated.implicit is None
    assert with_unrated.fit_report_.implicit is True
    scored = small_ratings.rated
    only_scores = Ratings.from_arrays(
        small_ratings.user_ids[scored], small_ratings.anime_ids[scored], small_ratings.scores[scored]
    )
    assert fit(only_scores, threads=1).fit_report_.implicit is False
    # Forced on, the term uses the scored rows as each user's list.
    forced = fit(only_scores, threads=1, implicit=True)
    assert forced.fit_report_.implicit is True
    assert not np.array_equal(forced.user_factors, fit(only_scores, threads=1).user_factors)


def test_term_off_changes_model(small_ratings):
    on = fit(small_ratings, threads=1, implicit=True)
    off = fit(small_ratings, threads=1, implicit=False)
    assert off.fit_report_.implicit is False
    assert not np.array_equal(on.user_factors, off.user_factors)


def test_implicit_model_saves_and_loads(small_ratings, tmp_path):
    model = fit(small_ratings, threads=1, implicit=True, implicit_learning_rate=0.03)
    path = tmp_path / "model.npz"
    model.save(path)
    loaded = Model.load(path)
    assert loaded.implicit is True
    assert loaded.implicit_learning_rate == 0.03
    users = np.repeat(model.user_ids[:4], 5)
    anime = np.tile(model.anime_ids[:5], 4)
    np.testing.assert_array_equal(loaded.predict(users, anime), model.predict(users, anime))


@pytest.mark.parametrize("value", [-1.0, float("nan"), "0.1"])
def test_bad_implicit_learning_rate_rejected(value):
    with pytest.raises((ValueError, TypeError), match="implicit_learning_rate"):
        Model(implicit_learning_rate=value)


def test_bad_implicit_setting_rejected():
    with pytest.raises((ValueError, TypeError), match="implicit"):
        Model(implicit="yes")


def test_implicit_term_lowers_held_out_rmse(anime_ratings):
    # The bundled sample has 100,666 unrated rows. With the term the default
    # model reaches about 1.1194 on this split, without it about 1.1229.
    train, validation = anime_ratings.split(0.1, seed=0)
    on = Model(seed=0, implicit=True).fit(train, validation=validation).rmse(validation)
    off = Model(seed=0, implicit=False).fit(train, validation=validation).rmse(validation)
    assert on <= off - 0.002


@pytest.mark.parametrize("step", [1e38, 1e6])
def test_diverging_implicit_step_raises(small_ratings, step):
    from pyanimf.errors import TrainingDivergedError

    model = Model(dim=32, epochs=3, seed=1, threads=1, implicit=True, implicit_learning_rate=step)
    with pytest.raises(TrainingDivergedError) as error:
        model.fit(small_ratings)
    assert f"lower implicit_learning_rate (now {step:g})" in str(error.value)


def test_zero_implicit_step_matches_term_off(small_ratings):
    zero = fit(small_ratings, threads=1, implicit=True, implicit_learning_rate=0.0)
    off = fit(small_ratings, threads=1, implicit=False)
    np.testing.assert_array_equal(zero.user_factors, off.user_factors)
    np.testing.assert_array_equal(zero.anime_factors, off.anime_factors)


def test_implicit_step_default_follows_output():
    # The sigmoid output's gradients are about ten times smaller, as its
    # default learning_rate is ten times larger.
    assert Model().implicit_learning_rate == 0.02
    assert Model(output="sigmoid").implicit_learning_rate == 0.2
    assert Model(output="sigmoid", implicit_learning_rate=0.05).implicit_learning_rate == 0.05


def test_no_implicit_step_after_last_epoch(small_ratings):
    # The last epoch's model is the one its SGD pass trained against, so a
    # wild step cannot slip into the result untested.
    settings = dict(dim=16, epochs=1, seed=2, threads=1)
    stepped = Model(implicit=True, implicit_learning_rate=1e38, **settings).fit(small_ratings)
    off = Model(implicit=False, **settings).fit(small_ratings)
    np.testing.assert_array_equal(stepped.user_factors, off.user_factors)
