"""The per-user rating scale s_u: its formula, predictions, persistence and the setting that turns it off."""

import platform
from pathlib import Path

import numpy as np
import pytest

from pyanimf import Model, _core
from pyanimf.cli.main import main
from pyanimf.foldin import estimate_user_scale

from test_determinism import assert_same_model
from test_model import formula_predictions

DATA = Path(__file__).parent / "data"
# Written by pyanimf at commit 06fe526, before the user scale existed, with
# Model(dim=4, epochs=3, seed=3, threads=1), kernel "scalar", fitted on the
# `small_ratings` fixture and saved in format version 2. The predictions
# file contains that model's predictions for the first 500 scored rows.
VERSION_2_MODEL = DATA / "model_v2_dim4.npz"
VERSION_2_PREDICTIONS = DATA / "model_v2_dim4_predictions.npz"


@pytest.fixture(scope="module")
def scaled(small_ratings):
    return Model(dim=16, epochs=3, seed=4, threads=1).fit(small_ratings)


def standardised_scores_by_row(model, ratings):
    """Return (model row, standardised float32 score) of every scored row, as the grid computes them."""
    scored = ratings.rated
    rows = model._users.lookup(ratings.user_ids[scored])
    shift, scale = np.float32(model._scale.shift), np.float32(model._scale.scale)
    return rows, (ratings.scores[scored].astype(np.float32) - shift) / scale


def numpy_user_scales(rows, standardised, n_users, shrinkage):
    """Return s_u = sqrt((sum (r - m_u)^2 + k) / (n_u + k)) with m_u = sum r / (n_u + k), in float64."""
    values = standardised.astype(np.float64)
    denominator = np.bincount(rows, minlength=n_users) + shrinkage
    means = np.bincount(rows, weights=values, minlength=n_users) / denominator
    squares = np.bincount(rows, weights=(values - means[rows]) ** 2, minlength=n_users)
    return np.sqrt((squares + shrinkage) / denominator)


def test_user_scales_match_numpy_formula(scaled, small_ratings):
    rows, standardised = standardised_scores_by_row(scaled, small_ratings)
    expected = numpy_user_scales(rows, standardised, len(scaled.user_ids), shrinkage=20.0)
    np.testing.assert_allclose(scaled.user_scales, expected, rtol=1e-6)
    # The sample's users differ in spread, so the scales are far from all 1.
    assert scaled.user_scales.min() < 0.8
    assert scaled.user_scales.max() > 1.2


def test_user_without_scores_has_unit_scale():
    # User "c" has only an unrated row (-1), so n_u = 0 and s_u = sqrt(k / k).
    model = Model(dim=4, epochs=1, threads=1).fit(
        ["a", "a", "b", "b", "c"], [1, 2, 1, 2, 1], [9.0, 2.0, 5.0, 6.0, -1.0]
    )
    scales = dict(zip(model.user_ids.tolist(), model.user_scales.tolist()))
    assert scales["c"] == 1.0
    assert scales["a"] > scales["b"]


def test_predict_matches_scaled_formula(scaled):
    users, anime = scaled.user_ids[:40], scaled.anime_ids[:40]
    expected = formula_predictions(scaled, 40, scaled._scale.low, scaled._scale.high)
    np.testing.assert_allclose(scaled.predict(users, anime), expected, rtol=1e-5)


def test_recommend_scores_equal_predictions(scaled):
    for user in scaled.user_ids[:30]:
        recommended = scaled.recommend(user, n=10)
        anime = [anime for anime, _ in recommended]
        predicted = scaled.predict([user] * len(anime), anime)
        np.testing.assert_allclose([score for _, score in recommended], predicted, rtol=1e-6)


def test_recommend_all_scores_include_scale(scaled):
    users, anime, scores = scaled.recommend_all(n=5)
    predicted = scaled.predict(np.repeat(users, 5), anime.ravel()).reshape(-1, 5)
    np.testing.assert_allclose(scores, predicted, rtol=1e-5)


def test_user_scale_does_not_change_ranking(small_ratings):
    # The scale comes after training in the prediction, but training with it
    # changes the factors, so compare one model's ranking with and without s_u.
    model = Model(dim=8, epochs=2, seed=6, threads=1).fit(small_ratings)
    user = model.user_ids[np.argmin(model.user_scales)]
    ranked = [anime for anime, _ in model.recommend(user, n=20)]
    model._arrays.user_scale[:] = 1.0
    assert [anime for anime, _ in model.recommend(user, n=20)] == ranked


def test_save_load_keeps_user_scales(scaled, tmp_path):
    path = tmp_path / "scaled.npz"
    scaled.save(path)
    loaded = Model.load(path)
    assert loaded.user_scale is True
    np.testing.assert_array_equal(loaded.user_scales, scaled.user_scales)
    users = np.repeat(scaled.user_ids[:20], 5)
    anime = np.tile(scaled.anime_ids[:5], 20)
    np.testing.assert_array_equal(loaded.predict(users, anime), scaled.predict(users, anime))


def test_user_scale_off_gives_unit_scales(small_ratings):
    model = Model(dim=8, epochs=1, seed=4, threads=1, user_scale=False).fit(small_ratings)
    assert model.user_scale is False
    np.testing.assert_array_equal(model.user_scales, np.ones(len(model.user_ids), dtype=np.float32))


# NOTE: the reference bits hold on x86-64 only. There the scalar kernel is
# compiled without FMA, and elsewhere the compiler may fuse multiply-adds.
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"), reason="reference written on x86-64")
def test_user_scale_off_reproduces_version_2_model_bits(small_ratings):
    reference = Model.load(VERSION_2_MODEL)
    assert reference.implicit is False
    model = Model(dim=4, epochs=3, seed=3, threads=1, user_scale=False, implicit=False)
    model.kernel = "scalar"
    model.fit(small_ratings, progress=False)
    np.testing.assert_array_equal(model.user_ids, reference.user_ids)
    np.testing.assert_array_equal(model.anime_ids, reference.anime_ids)
    # Factors, biases, scales (all 1 on both sides) and the output layer.
    assert_same_model(model, reference)
    assert [r.train_rmse for r in model.history_] == [r.train_rmse for r in reference.history_]


def test_version_2_file_loads_and_predicts_as_before():
    model = Model.load(VERSION_2_MODEL)
    expected = np.load(VERSION_2_PREDICTIONS)
    assert model.user_scale is False
    np.testing.assert_array_equal(model.user_scales, np.ones(len(model.user_ids), dtype=np.float32))
    np.testing.assert_allclose(model.predict(expected["user_ids"], expected["anime_ids"]), expected["predictions"],
                               rtol=1e-6)


@pytest.mark.parametrize("threads", [2, 3])
def test_user_scales_same_for_any_thread_count(small_ratings, threads):
    single_thread = Model(dim=8, epochs=1, seed=9, threads=1).fit(small_ratings)
    several = Model(dim=8, epochs=1, seed=9, threads=threads).fit(small_ratings)
    np.testing.assert_array_equal(several.user_scales, single_thread.user_scales)
    np.testing.assert_array_equal(several.user_factors, single_thread.user_factors)


def test_fold_in_scale_matches_training_scale(scaled, small_ratings):
    rows, standardised = standardised_scores_by_row(scaled, small_ratings)
    row = int(np.argmax(scaled.user_scales))
    assert estimate_user_scale(standardised[rows == row]) == pytest.approx(scaled.user_scales[row], rel=1e-6)


def test_fold_in_scale_near_one_for_few_ratings():
    assert estimate_user_scale(np.array([2.0, -2.0])) == pytest.approx(np.sqrt(28.0 / 22.0), rel=1e-6)
    assert estimate_user_scale(np.array([], dtype=np.float64)) == 1.0


def test_sigmoid_output_has_no_user_scale():
    assert Model(output="sigmoid").user_scale is False
    with pytest.raises(ValueError, match="user_scale: the user scale needs output='identity'"):
        Model(output="sigmoid", user_scale=True)


def test_user_scale_rejects_text():
    with pytest.raises(ValueError, match="user_scale: expected True or False, got 'no'"):
        Model(user_scale="no")


def test_grid_divides_scores_once():
    grid = _core.BlockGrid(np.array([0, 1], np.int32), np.array([0, 0], np.int32), np.array([1.0, 2.0], np.float32),
                           2, 1, 1, 0)
    grid.divide_by_user_scale(20.0)
    assert grid.user_scaled
    with pytest.raises(ValueError, match="divided by the user scales before"):
        grid.divide_by_user_scale(20.0)
    with pytest.raises(ValueError, match="shrinkage: expected a positive finite number"):
        _core.BlockGrid(np.array([0], np.int32), np.array([0], np.int32), np.array([1.0], np.float32),
                        1, 1, 1, 0).divide_by_user_scale(0.0)


def test_cli_fit_no_user_scale(tmp_path, capsys):
    path = tmp_path / "m.npz"
    code = main(["fit", "--dim", "8", "--epochs", "1", "--quiet", "--no-user-scale", "-o", str(path)])
    assert code == 0
    assert Model.load(path).user_scale is False


def test_train_rmse_on_standardised_scale(small_ratings):
    # With steps this small the model barely moves during the epoch, so the
    # epoch's train RMSE is that of the final arrays. SGD trains on r / s_u,
    # but the statistic must measure r - s_u * z, as the predictions do.
    # The implicit term's step after the epoch would move the user rows.
    model = Model(dim=8, epochs=1, seed=5, threads=1, learning_rate=1e-12, regularization=0.0,
                  bias_regularization=0.0, dense_learning_rate=0.0, early_stopping=False,
                  implicit=False).fit(small_ratings)
    rows, standardised = standardised_scores_by_row(model, small_ratings)
    anime = model._anime.lookup(small_ratings.anime_ids[small_ratings.rated])
    weight, bias = model.output_layer
    dot = np.einsum("ij,ij->i", model.user_factors[rows].astype(np.float64),
                    model.anime_factors[anime].astype(np.float64))
    z = weight * dot + bias + model._arrays.global_mean + model.user_bias[rows] + model.anime_bias[anime]
    errors = standardised - model.user_scales[rows] * z
    expected = np.sqrt(np.mean(errors * errors)) * model._scale.scale
    assert model.history_[0].train_rmse == pytest.approx(expected, rel=1e-5)
