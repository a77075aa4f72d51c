"""The Model API on real ratings: queries, persistence, configurations."""

import multiprocessing
import sys

import numpy as np
import pytest

from pyanimf import Model, ModelFileError, TrainingDivergedError
from pyanimf.model import automatic_grid_size
from pyanimf.ratings import Ratings


@pytest.fixture(scope="module")
def trained(small_ratings):
    return Model(dim=32, epochs=5, seed=1).fit(small_ratings, validation=0.1)


def rows_of_user(ratings, user):
    return set(ratings.anime_ids[ratings.user_ids == user].tolist())


def test_recommend_skips_rated_and_listed(trained, small_ratings):
    users = trained.user_ids[:40]
    for user in users:
        seen = rows_of_user(small_ratings, user)
        recommended = [anime for anime, _ in trained.recommend(user, n=20)]
        assert len(recommended) == 20
        assert not seen & set(recommended), f"user {user} got anime they already rated or listed"


def test_recommend_skips_listed_unrated_rows(trained, small_ratings):
    listed = ~small_ratings.rated
    user = small_ratings.user_ids[listed][0]
    unrated_anime = set(small_ratings.anime_ids[listed & (small_ratings.user_ids == user)].tolist())
    assert unrated_anime
    recommended = {anime for anime, _ in trained.recommend(user, n=len(trained.anime_ids))}
    assert not unrated_anime & recommended


def test_recommend_scores_sorted_and_in_range(trained):
    user = trained.user_ids[0]
    scores = [score for _, score in trained.recommend(user, n=10)]
    assert scores == sorted(scores, reverse=True)
    assert all(1 <= score <= 10 for score in scores)


def test_recommend_more_than_catalogue_returns_every_candidate(trained, small_ratings):
    user = trained.user_ids[0]
    result = trained.recommend(user, n=10**6)
    assert len(result) == len(trained.anime_ids) - len(rows_of_user(small_ratings, user))
    assert len({anime for anime, _ in result}) == len(result)


def test_recommend_unknown_user_raises(trained):
    with pytest.raises(KeyError, match="unknown user id 999999"):
        trained.recommend(999999)


def test_similar_items_excludes_query(trained):
    for anime in trained.anime_ids[:50]:
        similar = trained.similar_items(anime, n=10)
        assert len(similar) == 10
        assert anime not in [other for other, _ in similar]


def test_similar_items_cosine_matches_numpy(trained):
    anime = trained.anime_ids[3]
    factors = trained.anime_factors.astype(np.float64)
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    cosine = unit @ unit[3]
    cosine[3] = -np.inf
    expected = trained.anime_ids[np.argsort(-cosine, kind="stable")[:5]]
    got = [other for other, _ in trained.similar_items(anime, n=5)]
    assert got == expected.tolist()


def test_similar_users_excludes_query(trained):
    user = trained.user_ids[7]
    similar = trained.similar_users(user, n=5)
    assert user not in [other for other, _ in similar]
    assert all(-1.0001 <= s <= 1.0001 for _, s in similar)


def formula_predictions(model, count, low, high):
    """Predict user row k for anime row k, k < count, from the model's formula in float64, clipped to [low, high]."""
    weight, bias = model.output_layer
    dot = np.einsum("ij,ij->i", model.user_factors[:count].astype(np.float64),
                    model.anime_factors[:count].astype(np.float64))
    z = weight * dot + bias + model._arrays.global_mean + model.user_bias[:count] + model.anime_bias[:count]
    internal = model.user_scales[:count] * z
    return np.clip(internal * model._scale.scale + model._scale.shift, low, high)


def test_predict_matches_formula(trained):
    users, anime = trained.user_ids[:5], trained.anime_ids[:5]
    expected = formula_predictions(trained, 5, 1, 10)
    np.testing.assert_allclose(trained.predict(users, anime), expected, rtol=1e-5)


def test_predict_unknown_anime_raises(trained):
    with pytest.raises(KeyError, match="1 unknown anime ids, the first -5 at position 1"):
        trained.predict([trained.user_ids[0]] * 2, [trained.anime_ids[0], -5])


def test_save_load_same_predictions(trained, tmp_path):
    path = tmp_path / "model.npz"
    trained.save(path)
    loaded = Model.load(path)
    users = np.repeat(trained.user_ids[:30], 10)
    anime = np.tile(trained.anime_ids[:10], 30)
    np.testing.assert_array_equal(loaded.predict(users, anime), trained.predict(users, anime))
    user = trained.user_ids[2]
    assert loaded.recommend(user) == trained.recommend(user)
    assert loaded.similar_items(trained.anime_ids[0]) == trained.similar_items(trained.anime_ids[0])


def test_save_leaves_no_temporary_file(trained, tmp_path):
    trained.save(tmp_path / "m.npz")
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_load_rejects_non_model_file(tmp_path):
    path = tmp_path / "bad.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(ModelFileError, match="not a readable pyanimf model file"):
        Model.load(path)


def test_load_rejects_truncated_file(trained, tmp_path):
    path = tmp_path / "m.npz"
    trained.save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError):
        Model.load(path)


def test_load_rejects_newer_version(trained, tmp_path):
    import json

    path = tmp_path / "m.npz"
    trained.save(path)
    with np.load(path) as archive:
        members = {name: archive[name] for name in archive.files}
    header = json.loads(members["header"].tobytes())
    header["version"] = 99
    members["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(path, **members)
    with pytest.raises(ModelFileError, match="version 99 is not supported"):
        Model.load(path)


def test_load_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError, match="model file not found"):
        Model.load(tmp_path / "absent.npz")


def test_keras_style_configuration_finite(small_ratings):
    model = Model(dim=32, epochs=20, biases=False, output="sigmoid", seed=2)
    model.fit(small_ratings, validation=0.1)
    last = model.history_[-1]
    assert np.isfinite(last.validation_rmse)
    # Predicting the middle of the scale, 5.5, gives about 2.7 here.
    assert last.validation_rmse < 2.0
    assert not model.user_bias.any()


def test_fit_with_arrays_and_string_ids():
    rng = np.random.default_rng(0)
    users = np.array([f"user{u}" for u in rng.integers(0, 50, 3000)])
    anime = np.array([f"show{a}" for a in rng.integers(0, 80, 3000)])
    scores = rng.integers(1, 11, 3000).astype(float)
    model = Model(dim=8, epochs=2).fit(users, anime, scores)
    assert model.user_ids.dtype.kind == "U"
    assert isinstance(model.recommend("user3", n=3)[0][0], str)


def test_fit_arrays_marker_rows_are_seen_not_scored():
    users = np.array([1, 1, 2, 2, 3])
    anime = np.array([10, 20, 10, 30, 20])
    scores = np.array([8, -1, 7, 9, 5], dtype=float)
    model = Model(dim=4, epochs=1).fit(users, anime, scores)
    assert model.fit_report_.train_ratings == 4
    assert model.fit_report_.unrated_rows == 1
    assert 20 not in [anime_id for anime_id, _ in model.recommend(1, n=5)]


def test_fit_wrong_argument_count_raises():
    with pytest.raises(TypeError, match="expected fit\\(ratings\\) or fit\\(user_ids, anime_ids, scores\\)"):
        Model().fit([1, 2], [3, 4])


def test_validation_drops_unknown_users(small_ratings):
    validation = Ratings.from_arrays(
        np.array([small_ratings.user_ids[0], 10**9]), np.array([small_ratings.anime_ids[0]] * 2),
        np.array([7.0, 7.0]),
    )
    model = Model(dim=8, epochs=1).fit(small_ratings, validation=validation)
    assert model.fit_report_.validation_ratings == 1
    assert model.fit_report_.validation_dropped == 1


def test_divergence_raises_named_error(small_ratings):
    with pytest.raises(TrainingDivergedError, match="lower learning_rate"):
        Model(dim=16, epochs=5, learning_rate=1e6).fit(small_ratings)


def test_callback_called_each_epoch(small_ratings):
    records = []
    model = Model(dim=8, epochs=3).fit(small_ratings, validation=0.1, callback=records.append)
    assert [r.epoch for r in records] == [1, 2, 3]
    assert records == model.history_


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"dim": 0}, "dim: expected an integer from 1"),
        ({"learning_rate": 0.0}, "learning_rate: expected a positive finite number"),
        ({"regularization": -1.0}, "regularization: expected a non-negative"),
        ({"output": "relu"}, "output: expected one of"),
        ({"threads": 0}, "threads: expected an integer from 1 to 4096 or None, got 0"),
        ({"epochs": 2.5}, "epochs: expected an integer"),
        ({"grid_size": 0}, "grid_size: expected an integer from 1 to 1024"),
        ({"early_stopping": "no"}, "early_stopping: expected True or False, got 'no'"),
        ({"biases": 0}, "biases: expected True or False, got 0"),
    ],
)
def test_model_rejects_bad_settings(settings, message):
    with pytest.raises(ValueError, match=message):
        Model(**settings)


def test_query_before_fit_raises():
    with pytest.raises(RuntimeError, match="not trained yet"):
        Model().recommend(1)


def test_recommend_all_matches_recommend(trained):
    users, anime, scores = trained.recommend_all(n=7, batch_size=33)
    assert sorted(users.tolist()) == sorted(trained.user_ids.tolist())
    for row in range(0, len(users), 25):
        single = trained.recommend(users[row], n=7)
        assert anime[row].tolist() == [a for a, _ in single]
        np.testing.assert_allclose(scores[row], [s for _, s in single], rtol=1e-5)


def test_recommend_all_pads_users_with_few_candidates():
    users = np.array([1, 1, 1, 2])
    anime = np.array([10, 20, 30, 10])
    model = Model(dim=4, epochs=1).fit(users, anime, np.array([5.0, 6.0, 7.0, 8.0]))
    ids, top, scores = model.recommend_all(n=3)
    row_of = {user: k for k, user in enumerate(ids.tolist())}
    assert top[row_of[1]].tolist() == [-1, -1, -1]
    assert np.isnan(scores[row_of[1]]).all()
    assert sorted(top[row_of[2]][:2].tolist()) == [20, 30]
    assert top[row_of[2]][2] == -1


def test_iter_recommendations_batches_bounded(trained):
    sizes = [len(users) for users, _, _ in trained.iter_recommendations(5, batch_size=50)]
    assert max(sizes) == 50
    assert sum(sizes) == len(trained.user_ids)


def trained_rows_only(train, validation):
    """The rows of `validation` whose user and anime have a score in `train`."""
    users = np.isin(validation.user_ids, train.user_ids[train.rated])
    anime = np.isin(validation.anime_ids, train.anime_ids[train.rated])
    keep = users & anime & validation.rated
    return Ratings.from_arrays(validation.user_ids[keep], validation.anime_ids[keep], validation.scores[keep])


def test_early_stopping_keeps_best_epoch(small_ratings):
    # A learning rate this high overfits within a few epochs, so validation
    # RMSE rises after an early best epoch.
    train, validation = small_ratings.split(0.2, seed=4)
    validation = trained_rows_only(train, validation)
    model = Model(dim=64, epochs=30, learning_rate=0.05, regularization=0.0, patience=3, seed=4)
    model.fit(train, validation=validation)
    history = [record.validation_rmse for record in model.history_]
    best = int(np.argmin(history)) + 1
    assert best < len(history) < 30
    assert model.best_epoch_ == best
    assert len(history) == best + 3
    assert model.rmse(validation) == pytest.approx(history[best - 1], abs=1e-6)


def test_early_stopping_off_keeps_last_epoch(small_ratings):
    train, validation = small_ratings.split(0.2, seed=4)
    validation = trained_rows_only(train, validation)
    model = Model(dim=64, epochs=12, learning_rate=0.05, regularization=0.0, early_stopping=False, seed=4)
    model.fit(train, validation=validation)
    assert len(model.history_) == 12
    assert model.best_epoch_ == 12
    assert model.rmse(validation) == pytest.approx(model.history_[-1].validation_rmse, abs=1e-6)


def test_saved_model_has_umask_permissions(trained, tmp_path):
    import os

    path = tmp_path / "m.npz"
    trained.save(path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_save_load_keeps_history(trained, tmp_path):
    path = tmp_path / "m.npz"
    trained.save(path)
    loaded = Model.load(path)
    assert loaded.history_ == trained.history_
    assert loaded.best_epoch_ == trained.best_epoch_
    assert loaded.best_epoch_ >= 1


@pytest.mark.parametrize(
    "n_anime, dim, expected",
    [
        (100, 128, 8),  # small catalogues keep the minimum
        (11_410, 128, 8),  # 11,410 x 512 bytes = 7.4 x 768 KiB
        (16_872, 128, 11),  # 10.98 x 768 KiB
        (16_872, 100, 10),  # rows of 100 floats are padded to 112: 9.6 x 768 KiB
        (16_872, 64, 8),  # 5.5 x 768 KiB, raised to the minimum
        (10_000_000, 128, 64),  # capped
    ],
)
def test_automatic_grid_size_from_shape(n_anime, dim, expected):
    assert automatic_grid_size(n_anime, dim) == expected


def copy_of(ratings):
    return Ratings(ratings.user_ids.copy(), ratings.anime_ids.copy(), ratings.scores.copy(), ratings.source)


def test_fit_owning_the_ratings_trains_the_same_model(small_ratings):
    assert small_ratings.user_ids.dtype == np.int32
    expected = Model(dim=16, epochs=3, seed=2).fit(small_ratings)
    given_up = copy_of(small_ratings)
    model = Model(dim=16, epochs=3, seed=2)._fit(given_up, None, False, None, owns_ratings=True)
    np.testing.assert_array_equal(model.user_factors, expected.user_factors)
    np.testing.assert_array_equal(model.anime_factors, expected.anime_factors)
    assert model.recommend(expected.user_ids[0], n=5) == expected.recommend(expected.user_ids[0], n=5)
    # The codes were written over the given-up ids.
    assert not np.array_equal(given_up.user_ids, small_ratings.user_ids)


@pytest.mark.parametrize("validation", [None, 0.1])
def test_fit_leaves_the_callers_ratings_unchanged(small_ratings, validation):
    ratings = copy_of(small_ratings)
    Model(dim=8, epochs=2).fit(ratings, validation=validation)
    np.testing.assert_array_equal(ratings.user_ids, small_ratings.user_ids)
    np.testing.assert_array_equal(ratings.anime_ids, small_ratings.anime_ids)


def test_fit_leaves_the_callers_int32_arrays_unchanged(small_ratings):
    users = small_ratings.user_ids.copy()
    anime = small_ratings.anime_ids.copy()
    scores = np.nan_to_num(small_ratings.scores, nan=-1.0)
    Model(dim=8, epochs=2).fit(users, anime, scores, unrated=-1.0)
    np.testing.assert_array_equal(users, small_ratings.user_ids)
    np.testing.assert_array_equal(anime, small_ratings.anime_ids)


def test_fit_reports_grid_size(small_ratings):
    automatic = Model(dim=8, epochs=1).fit(small_ratings)
    assert automatic.grid_size is None
    assert automatic.fit_report_.grid_size == automatic_grid_size(len(automatic.anime_ids), 8)
    explicit = Model(dim=8, epochs=1, grid_size=3).fit(small_ratings)
    assert explicit.fit_report_.grid_size == 3


def _recommend_in_worker(path, user, queue):
    model = Model.load(path)
    model.threads = 1
    queue.put([anime for anime, _ in model.recommend(user, n=5)])


@pytest.mark.skipif(sys.platform != "linux", reason="needs fork")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Python 3.12+ warns about fork with threads
def test_forked_worker_loads_and_recommends(trained, tmp_path, run_forked):
    # The README's advice for servers that fork after using threads.
    path = tmp_path / "model.npz"
    trained.save(path)
    user = trained.user_ids[0]
    queue = multiprocessing.get_context("fork").Queue()
    hung, exitcode = run_forked(_recommend_in_worker, path, user, queue)
    assert not hung
    assert exitcode == 0
    assert queue.get(timeout=10) == [anime for anime, _ in trained.recommend(user, n=5)]
