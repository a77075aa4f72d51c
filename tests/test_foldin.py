"""Fold-in of new users: the fitted embedding, recommendations, input checks and the CLI."""

import re

import numpy as np
import pytest

from pyanimf import Model
from pyanimf.cli.main import main
from pyanimf.foldin import UnknownAnimeError, UnknownAnimeWarning


@pytest.fixture(scope="module")
def trained(anime_ratings):
    return Model(dim=64, epochs=20, seed=0).fit(anime_ratings)


@pytest.fixture(scope="module")
def trained_sigmoid(small_ratings):
    return Model(dim=32, epochs=20, output="sigmoid", seed=0).fit(small_ratings)


def users_with_ratings(ratings, minimum, count):
    """The first `count` users with at least `minimum` scored rows."""
    users, counts = np.unique(ratings.user_ids[ratings.rated], return_counts=True)
    return users[counts >= minimum][:count]


def own_ratings(ratings, user):
    """(scored pairs, anime listed without a score) of one user."""
    mine = ratings.user_ids == user
    scored = mine & ratings.rated
    pairs = list(zip(ratings.anime_ids[scored].tolist(), ratings.scores[scored].tolist()))
    return pairs, ratings.anime_ids[mine & ~ratings.rated].tolist()


def top_overlaps(model, ratings, users):
    overlaps = []
    for user in users:
        pairs, listed = own_ratings(ratings, user)
        trained_top = {anime for anime, _ in model.recommend(user, n=10)}
        folded_top = {anime for anime, _ in model.recommend_for(pairs, n=10, exclude=listed)}
        overlaps.append(len(trained_top & folded_top))
    return overlaps


def ridge_gradient(model, pairs, embedding, bias):
    """Gradient of the identity-output fold-in loss at (embedding, bias); zero at the optimum."""
    rows = model._anime.lookup(np.array([anime for anime, _ in pairs]))
    scores = np.array([score for _, score in pairs], dtype=np.float64)
    weight, dense_bias = model.output_layer
    factors = model.anime_factors[rows].astype(np.float64)
    predicted = weight * factors @ embedding + dense_bias + model._arrays.global_mean + bias
    predicted += model.anime_bias[rows]
    targets = (scores - model._scale.shift) / model._scale.scale
    if model.user_scale:
        # The training formula of s_u with k = 20, rounded to float32 as the
        # model stores it; fold-in fits targets / s_u.
        mean = targets.sum() / (len(targets) + 20)
        user_scale = np.float32(np.sqrt((((targets - mean) ** 2).sum() + 20) / (len(targets) + 20)))
        targets = targets / np.float64(user_scale)
    errors = predicted - targets
    n = len(rows)
    embedding_gradient = weight * factors.T @ errors + model.regularization * n * embedding
    bias_gradient = errors.sum() + model.bias_regularization * n * bias
    return embedding_gradient, bias_gradient


def test_refold_overlaps_trained_top10(trained, anime_ratings):
    users = users_with_ratings(anime_ratings, 50, 20)
    assert len(users) == 20
    overlaps = top_overlaps(trained, anime_ratings, users)
    assert np.mean(overlaps) >= 5, overlaps


def test_refold_sigmoid_overlaps_trained_top10(trained_sigmoid, small_ratings):
    users = users_with_ratings(small_ratings, 50, 20)
    overlaps = top_overlaps(trained_sigmoid, small_ratings, users)
    assert np.mean(overlaps) >= 5, overlaps


def test_refold_embedding_close_to_trained(trained, anime_ratings):
    user = users_with_ratings(anime_ratings, 100, 1)[0]
    pairs, _ = own_ratings(anime_ratings, user)
    embedding, bias = trained.fold_in(pairs)
    row = trained._users.index_of(user)
    learned = trained.user_factors[row].astype(np.float64)
    cosine = embedding @ learned / (np.linalg.norm(embedding) * np.linalg.norm(learned))
    assert cosine > 0.8
    assert bias == pytest.approx(float(trained.user_bias[row]), abs=0.1)


def test_identity_fold_in_is_ridge_optimum(trained, anime_ratings):
    user = users_with_ratings(anime_ratings, 30, 1)[0]
    pairs, _ = own_ratings(anime_ratings, user)
    embedding, bias = trained.fold_in(pairs)
    assert embedding.shape == (trained.dim,)
    embedding_gradient, bias_gradient = ridge_gradient(trained, pairs, embedding, bias)
    np.testing.assert_allclose(embedding_gradient, 0, atol=1e-6)
    assert bias_gradient == pytest.approx(0, abs=1e-6)


def test_sigmoid_fold_in_is_stationary(trained_sigmoid, small_ratings):
    model = trained_sigmoid
    user = users_with_ratings(small_ratings, 30, 1)[0]
    pairs, _ = own_ratings(small_ratings, user)
    embedding, bias = model.fold_in(pairs)
    rows = model._anime.lookup(np.array([anime for anime, _ in pairs]))
    targets = (np.array([s for _, s in pairs]) - model._scale.shift) / model._scale.scale
    weight, dense_bias = model.output_layer
    factors = model.anime_factors[rows].astype(np.float64)
    z = weight * factors @ embedding + dense_bias + model._arrays.global_mean + bias + model.anime_bias[rows]
    predicted = 1 / (1 + np.exp(-z))
    slope_errors = (predicted - targets) * predicted * (1 - predicted)
    n = len(rows)
    gradient = weight * factors.T @ slope_errors + model.regularization * n * embedding
    assert np.abs(gradient).max() < 1e-6
    assert abs(slope_errors.sum() + model.bias_regularization * n * bias) < 1e-6


def test_fold_in_without_biases_has_zero_bias(small_ratings):
    model = Model(dim=8, epochs=3, biases=False, seed=0).fit(small_ratings)
    _, bias = model.fold_in([(small_ratings.anime_ids[0], 8.0)])
    assert bias == 0.0


def test_fold_in_zero_regularization_finite(small_ratings):
    # With no penalty on p and one rating the normal equations are singular,
    # so the least-squares path must return the minimum-norm solution.
    model = Model(dim=8, epochs=2, regularization=0.0, seed=0).fit(small_ratings)
    embedding, bias = model.fold_in([(small_ratings.anime_ids[0], 8.0)])
    assert np.isfinite(embedding).all()
    assert np.isfinite(bias)
    assert np.linalg.norm(embedding) < 10


def test_fold_in_leaves_model_unchanged(trained, anime_ratings):
    before = trained.user_factors.copy()
    trained.recommend_for({5114: 10, 9253: 9})
    np.testing.assert_array_equal(trained.user_factors, before)


def test_recommend_for_excludes_given_anime(trained):
    given = {5114: 10, 9253: 9, 1535: 8, 30276: 7}
    recommended = [anime for anime, _ in trained.recommend_for(given, n=10**12)]
    assert len(recommended) == len(trained.anime_ids) - len(given)
    assert not set(given) & set(recommended)


def test_recommend_for_excludes_extra_anime(trained):
    first = [anime for anime, _ in trained.recommend_for({5114: 10}, n=3)]
    again = [anime for anime, _ in trained.recommend_for({5114: 10}, n=3, exclude=first[:2] + [-12345])]
    assert first[0] not in again
    assert first[1] not in again
    assert again[0] == first[2]


def test_recommend_for_scores_sorted_in_range(trained):
    scores = [score for _, score in trained.recommend_for([(5114, 9), (1535, 6)], n=20)]
    assert len(scores) == 20
    assert scores == sorted(scores, reverse=True)
    assert all(1 <= score <= 10 for score in scores)


def test_recommend_for_dict_equals_pairs(trained):
    assert trained.recommend_for({5114: 10, 1535: 4}) == trained.recommend_for([(5114, 10), (1535, 4)])


def test_recommend_for_n_zero_is_empty(trained):
    assert trained.recommend_for({5114: 10}, n=0) == []


def test_unknown_anime_raise_lists_all(trained):
    with pytest.raises(KeyError, match="2 anime ids are not in the model: -1, 99999999") as caught:
        trained.fold_in([(5114, 10), (-1, 5), (99999999, 8)])
    assert isinstance(caught.value, UnknownAnimeError)
    assert caught.value.anime_ids == [-1, 99999999]


def test_unknown_anime_ignore_warns_and_drops(trained):
    with pytest.warns(UnknownAnimeWarning, match="left out 1 anime ids that are not in the model: 99999999"):
        with_unknown = trained.recommend_for([(5114, 10), (99999999, 8)], unknown="ignore")
    assert with_unknown == trained.recommend_for([(5114, 10)])


def test_unknown_anime_ignore_all_unknown_raises(trained):
    with pytest.warns(UnknownAnimeWarning):
        with pytest.raises(ValueError, match="none of the anime ids is in the model"):
            trained.fold_in({99999999: 8}, unknown="ignore")


@pytest.mark.parametrize(
    "ratings, error, message",
    [
        ([], ValueError, "expected at least one \\(anime_id, score\\) pair, got none"),
        ({}, ValueError, "expected at least one"),
        ([(5114, 10), (5114, 9)], ValueError, "anime 5114 appears more than once"),
        ([(5114, 11)], ValueError, "score of anime 5114 is 11, outside the model's rating range 1 to 10"),
        ([(5114, float("nan"))], ValueError, "score of anime 5114 is nan; expected a finite number"),
        ([(5114, "10")], ValueError, "score of anime 5114 is '10'; expected a finite number"),
        ([(5114, True)], ValueError, "expected a finite number"),
        ("5114:10", TypeError, "got the string '5114:10'"),
        ([5114], TypeError, "ratings\\[0\\]: expected an \\(anime_id, score\\) pair, got 5114"),
        (42, TypeError, "expected a dict or \\(anime_id, score\\) pairs, got int"),
    ],
    ids=["empty-list", "empty-dict", "duplicate", "out-of-range", "nan", "string-score", "bool-score",
         "string", "bare-id", "not-iterable"],
)
def test_fold_in_rejects_bad_input(trained, ratings, error, message):
    with pytest.raises(error, match=message):
        trained.fold_in(ratings)


def test_fold_in_rejects_bad_unknown_mode(trained):
    with pytest.raises(ValueError, match="unknown: expected one of \\('raise', 'ignore'\\), got 'drop'"):
        trained.fold_in({5114: 10}, unknown="drop")


def test_fold_in_before_fit_raises():
    with pytest.raises(RuntimeError, match="not trained yet"):
        Model().recommend_for({5114: 10})


@pytest.fixture(scope="module")
def model_file(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("foldin") / "model.npz"
    trained.save(path)
    return path


def test_cli_recommend_ratings_prints_titles(model_file, capsys):
    assert main(["recommend", str(model_file), "--ratings", "5114:10,9253:9,1535:8", "-n", "4"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 4
    anime_ids = [int(line.split("\t")[0]) for line in lines]
    assert not {5114, 9253, 1535} & set(anime_ids)
    _, title, score = lines[0].split("\t")
    assert 1 <= float(score) <= 10
    assert title != "(unknown title)"


def test_cli_recommend_ratings_matches_api(trained, model_file, capsys):
    assert main(["recommend", str(model_file), "--ratings", "5114:10, 1535:6", "-n", "3"]) == 0
    printed = [int(line.split("\t")[0]) for line in capsys.readouterr().out.strip().splitlines()]
    assert printed == [anime for anime, _ in trained.recommend_for({5114: 10, 1535: 6}, n=3)]


@pytest.mark.parametrize(
    "text, message",
    [
        ("5114:10,abc", "--ratings: invalid item 'abc' \\(item 2 of 2\\); expected ANIME:SCORE"),
        ("5114:10,", "invalid item '' \\(item 2 of 2\\); expected ANIME:SCORE"),
        ("5114:ten", "invalid item '5114:ten' \\(item 1 of 1\\); the score 'ten' is not a number"),
        ("x:10", "invalid item 'x:10' \\(item 1 of 1\\); the anime id: expected an integer id, got 'x'"),
    ],
    ids=["no-colon", "trailing-comma", "bad-score", "bad-id"],
)
def test_cli_recommend_ratings_parse_errors(model_file, capsys, text, message):
    assert main(["recommend", str(model_file), "--ratings", text]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pyanimf: error: ")
    assert re.search(message, err), err


def test_cli_recommend_ratings_unknown_anime(model_file, capsys):
    assert main(["recommend", str(model_file), "--ratings", "5114:10,99999999:9"]) == 1
    assert "anime ids not in the model: 99999999; remove them, or pass --ignore-unknown" in capsys.readouterr().err


def test_cli_recommend_ratings_ignore_unknown_warns(model_file, capsys):
    assert main(["recommend", str(model_file), "--ratings", "5114:10,99999999:9", "--ignore-unknown",
                 "-n", "2"]) == 0
    captured = capsys.readouterr()
    assert "pyanimf: warning: left out 1 anime ids that are not in the model: 99999999" in captured.err
    assert len(captured.out.strip().splitlines()) == 2


def test_cli_recommend_ratings_excludes_user(model_file, capsys):
    with pytest.raises(SystemExit):
        main(["recommend", str(model_file), "--ratings", "5114:10", "--user", "1"])
    assert "not allowed with argument" in capsys.readouterr().err
