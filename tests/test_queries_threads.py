"""Queries on one trained model from several Python threads give the serial results.

The core releases the GIL in predict, top-N and similarity, so these calls
really overlap. The model is loaded from a file for each test, so the lazily
built lookup tables of its id indices are built by the racing threads.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pyanimf import Model
from pyanimf.ids import IdIndex
from pyanimf.ratings import Ratings

THREADS = 8


@pytest.fixture(scope="module")
def model_file(small_ratings, tmp_path_factory):
    path = tmp_path_factory.mktemp("threads") / "model.npz"
    Model(dim=16, epochs=3, seed=5).fit(small_ratings).save(path)
    return path


def run_together(calls):
    """Run each zero-argument call on its own thread, all released at once by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call):
        barrier.wait()
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def queries(model, ratings):
    """One call per query kind, on a slice of users chosen by `offset`."""

    def for_offset(offset):
        users = model.user_ids[offset : offset + 40]
        anime = model.anime_ids[offset : offset + 40]
        return [
            ("predict", lambda: model.predict(np.repeat(users, 40), np.tile(anime, 40)).tolist()),
            ("recommend", lambda: [model.recommend(user, n=15) for user in users[:10]]),
            ("similar_items", lambda: [model.similar_items(item, n=10) for item in anime[:10]]),
            ("similar_users", lambda: [model.similar_users(user, n=10) for user in users[:10]]),
            ("evaluate", lambda: model.evaluate(ratings)),
        ]

    return for_offset


def test_queries_threads_match_serial(model_file, small_ratings):
    serial_model = Model.load(model_file)
    threaded_model = Model.load(model_file)
    serial = queries(serial_model, small_ratings)
    threaded = queries(threaded_model, small_ratings)

    expected = {}
    calls, keys = [], []
    for offset in range(0, THREADS * 10, 10):
        for (name, serial_call), (_, threaded_call) in zip(serial(offset), threaded(offset)):
            expected[(name, offset)] = serial_call()
            calls.append(threaded_call)
            keys.append((name, offset))

    results = run_together(calls)
    for key, result in zip(keys, results):
        assert result == expected[key], f"{key[0]} at offset {key[1]} differs from the serial call"


def test_same_query_many_threads(model_file):
    model = Model.load(model_file)
    user = model.user_ids[3]
    results = run_together([lambda: model.recommend(user, n=50)] * THREADS)
    assert all(result == results[0] for result in results)
    assert results[0] == Model.load(model_file).recommend(user, n=50)


def test_evaluate_threads_unknown_counts(model_file):
    model = Model.load(model_file)
    data = Ratings.from_arrays(
        np.concatenate([model.user_ids[:100], [-1, -2]]),
        np.concatenate([model.anime_ids[:100], [-3, -4]]),
        np.full(102, 7.0),
    )
    results = run_together([lambda: model.evaluate(data)] * THREADS)
    assert all(result == results[0] for result in results)
    assert results[0].unknown == 2
    assert np.isfinite(results[0].rmse)


@pytest.mark.parametrize("trial", range(15))
def test_id_index_first_lookups_race(trial):
    # Large enough that building the sorted table releases the GIL midway,
    # so racing threads see the table half built unless it is published safely.
    ids = np.arange(300_000, dtype=np.int64)[::-1].copy()
    index = IdIndex.from_ids(ids)
    queries = [np.array([5, 299_999, -1, 7 + k], dtype=np.int64) for k in range(THREADS)]
    results = run_together([lambda query=query: index.lookup(query).tolist() for query in queries])
    for k, result in enumerate(results):
        assert result == [299_994, 0, -1, 299_992 - k]
