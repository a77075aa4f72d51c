"""A seed gives the same model every time, whatever the thread count."""

import numpy as np
import pytest

from pyanimf import Model
from pyanimf.threads import resolve_threads


def train(ratings, dim=40, **settings):
    return Model(dim=dim, epochs=3, **settings).fit(ratings)


def assert_same_model(a, b):
    np.testing.assert_array_equal(a.user_factors, b.user_factors)
    np.testing.assert_array_equal(a.anime_factors, b.anime_factors)
    np.testing.assert_array_equal(a.user_bias, b.user_bias)
    np.testing.assert_array_equal(a.anime_bias, b.anime_bias)
    np.testing.assert_array_equal(a.user_scales, b.user_scales)
    assert a.output_layer == b.output_layer


def test_same_seed_same_factors(small_ratings):
    assert_same_model(train(small_ratings, seed=5, threads=2), train(small_ratings, seed=5, threads=2))


# dim 40 (stride 48) takes the generic SGD step, dim 128 the fixed-width one.
@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("dim", [40, 128])
def test_thread_count_does_not_change_model(small_ratings, threads, dim):
    single_thread = train(small_ratings, dim=dim, seed=11, threads=1)
    several_threads = train(small_ratings, dim=dim, seed=11, threads=threads)
    assert_same_model(single_thread, several_threads)


def test_other_seed_other_factors(small_ratings):
    a = train(small_ratings, seed=1, threads=1)
    b = train(small_ratings, seed=2, threads=1)
    assert not np.array_equal(a.user_factors, b.user_factors)


@pytest.mark.parametrize("setting", ["1", "2"])
def test_threads_from_environment(anime_ratings, monkeypatch, setting):
    monkeypatch.setenv("OMP_NUM_THREADS", setting)
    model = Model(dim=8, epochs=1).fit(anime_ratings)
    assert model.fit_report_.threads == int(setting)


def test_automatic_threads_capped_for_small_data(small_ratings, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert small_ratings.n_rated < 100_000
    assert train(small_ratings, seed=3).fit_report_.threads == 1
    assert train(small_ratings, seed=3, threads=2).fit_report_.threads == 2


def test_invalid_thread_environment_rejected(small_ratings, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "many")
    with pytest.raises(ValueError, match="OMP_NUM_THREADS: expected an integer from 1 to 4096, got 'many'"):
        train(small_ratings, seed=3)


@pytest.mark.parametrize("threads", [0, 4097, 10**30, 2.5, True])
def test_thread_count_outside_range_rejected(threads):
    with pytest.raises(ValueError, match="threads: expected an integer from 1 to 4096 or None"):
        resolve_threads(threads)
    with pytest.raises(ValueError, match="threads: expected an integer from 1 to 4096 or None"):
        Model(threads=threads)
