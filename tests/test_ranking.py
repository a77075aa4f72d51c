"""Ranking metrics: a hand-made model with a known result, properties, real data and the CLI."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyanimf import Model
from pyanimf.cli.main import main
from pyanimf.ranking import linear_scores, ranking_metrics, top_k, user_metrics
from pyanimf.ratings import Ratings

# Anime factors of the hand-made model: user 1 = [1, 0] ranks 10 > 20 > 30 >
# 40 > 50, and user 2 = [0, 1] ranks the reverse.
ANIME_FACTORS = {10: [5, 1], 20: [4, 2], 30: [3, 3], 40: [2, 4], 50: [1, 5]}
USER_FACTORS = {1: [1, 0], 2: [0, 1], 3: [1, 1]}


def ratings(rows):
    users, anime, scores = zip(*rows)
    return Ratings.from_arrays(np.array(users), np.array(anime), np.array(scores, dtype=float))


@pytest.fixture
def hand_made():
    """A model whose scores are exactly <p_u, q_i>, and the rows it was trained on."""
    train = ratings([(1, 10, 3), (2, 50, 7), (3, 20, 1), (3, 30, 10), (3, 40, 5)])
    model = Model(dim=2, epochs=1, grid_size=1, seed=0).fit(train)
    for user, factors in USER_FACTORS.items():
        model.user_factors[model._users.index_of(user)] = factors
    for anime, factors in ANIME_FACTORS.items():
        model.anime_factors[model._anime.index_of(anime)] = factors
    model.user_bias[:] = 0
    model.anime_bias[:] = 0
    model._arrays.global_mean = 0.0
    model._weight, model._bias = 1.0, 0.0
    return model, train


HAND_MADE_TEST = ratings([
    (1, 20, 9), (1, 40, 8), (1, 50, 3),   # relevant {20, 40}; top-2 of candidates 20..50 is [20, 30]
    (2, 10, 10), (2, 30, 6),              # relevant {10}; top-2 is [40, 30]
    (2, 50, 9),                           # anime 50 is a training item of user 2
    (3, 10, 5),                           # user 3 has nothing relevant
    (99, 10, 9),                          # unknown user
    (1, 77, 9),                           # unknown anime
])


def reference_user(ranked, relevant, k):
    """Per-user metrics written out from their definitions."""
    hits = [1 if item in relevant else 0 for item in ranked[:k]]
    ideal = min(k, len(relevant))
    dcg = sum(hit / math.log2(position + 2) for position, hit in enumerate(hits))
    ideal_dcg = sum(1 / math.log2(position + 2) for position in range(ideal))
    average_precision = sum(sum(hits[:position + 1]) / (position + 1)
                            for position, hit in enumerate(hits) if hit) / ideal
    return {
        "precision": sum(hits) / k,
        "recall": sum(hits) / len(relevant),
        "ndcg": dcg / ideal_dcg,
        "map": average_precision,
    }


def reference_metrics(model, train, test, k, threshold):
    """ranking_metrics computed directly from P Q^T in float64, one user at a time."""
    weight, bias = model.output_layer
    scores = weight * model.user_factors.astype(np.float64) @ model.anime_factors.astype(np.float64).T
    scores += bias + model._arrays.global_mean + model.user_bias[:, None] + model.anime_bias[None, :]
    anime_ids = model.anime_ids.tolist()
    per_user, recommended = [], set()
    for user in sorted(set(test.user_ids.tolist())):
        row = model._users.index_of(user)
        if row < 0:
            continue
        trained = set(train.anime_ids[train.user_ids == user].tolist())
        mine = (test.user_ids == user) & test.rated
        relevant = {anime for anime, score in zip(test.anime_ids[mine].tolist(), test.scores[mine].tolist())
                    if score >= threshold and anime in anime_ids and anime not in trained}
        if not relevant:
            continue
        candidates = [anime for anime in anime_ids if anime not in trained]
        ranked = sorted(candidates, key=lambda anime: -scores[row, anime_ids.index(anime)])
        per_user.append(reference_user(ranked, relevant, k))
        recommended.update(ranked[:k])
    means = {name: np.mean([metrics[name] for metrics in per_user]) for name in per_user[0]}
    return means, len(recommended) / len(anime_ids), len(per_user)


def test_hand_made_known_result(hand_made):
    model, train = hand_made
    result = ranking_metrics(model, train, HAND_MADE_TEST, k=2, threshold=8)
    ndcg_user_1 = 1 / (1 + 1 / math.log2(3))
    assert result.users == 2
    assert result.precision == pytest.approx((0.5 + 0) / 2)
    assert result.recall == pytest.approx((0.5 + 0) / 2)
    assert result.ndcg == pytest.approx(ndcg_user_1 / 2)
    assert result.map == pytest.approx((0.5 + 0) / 2)
    assert result.coverage == pytest.approx(3 / 5)


def test_hand_made_counts(hand_made):
    model, train = hand_made
    result = ranking_metrics(model, train, HAND_MADE_TEST, k=2, threshold=8)
    assert result.users_without_relevant == 1
    assert result.unknown_users == 1
    assert result.unknown_anime_rows == 1
    assert result.rows_in_train == 1


def test_hand_made_matches_reference(hand_made):
    model, train = hand_made
    for k in (1, 2, 3, 5, 8, 10**9):
        result = ranking_metrics(model, train, HAND_MADE_TEST, k=k, threshold=8)
        expected, coverage, users = reference_metrics(model, train, HAND_MADE_TEST, k, 8)
        assert result.users == users
        for name, value in expected.items():
            assert getattr(result, name) == pytest.approx(value), (k, name)
        assert result.coverage == pytest.approx(coverage)


def test_hand_made_seen_sets_equal_train(hand_made):
    model, train = hand_made
    assert ranking_metrics(model, None, HAND_MADE_TEST, k=2) == ranking_metrics(model, train, HAND_MADE_TEST, k=2)


def test_no_evaluated_user_gives_none(hand_made):
    model, train = hand_made
    result = ranking_metrics(model, train, ratings([(1, 20, 2), (99, 10, 9)]), k=2)
    assert result.users == 0
    for name in ("precision", "recall", "ndcg", "map", "coverage"):
        assert getattr(result, name) is None, name
    assert result.users_without_relevant == 1
    assert result.unknown_users == 1


def test_batches_give_same_result(hand_made):
    model, train = hand_made
    whole = ranking_metrics(model, train, HAND_MADE_TEST, k=3)
    assert ranking_metrics(model, train, HAND_MADE_TEST, k=3, batch_size=1) == whole


@pytest.mark.parametrize(
    "arguments, error, message",
    [
        ({"k": 0}, ValueError, "k: expected a positive integer, got 0"),
        ({"k": 2.0}, ValueError, "k: expected a positive integer, got 2.0"),
        ({"threshold": float("nan")}, ValueError, "threshold: expected a finite number, got nan"),
        ({"batch_size": 0}, ValueError, "batch_size: expected a positive integer"),
        ({"test": [(1, 20, 9)]}, TypeError, "test: expected a Ratings, got list"),
        ({"train": "train.csv"}, TypeError, "train: expected a Ratings or None, got str"),
    ],
    ids=["k-zero", "k-float", "threshold-nan", "batch-zero", "test-list", "train-path"],
)
def test_ranking_metrics_rejects_bad_arguments(hand_made, arguments, error, message):
    model, train = hand_made
    call = {"train": train, "test": HAND_MADE_TEST, **arguments}
    with pytest.raises(error, match=message):
        ranking_metrics(model, **call)


def test_top_k_orders_ties_by_column():
    scores = np.array([[1.0, 3.0, 3.0, 0.0]])
    assert top_k(scores, 2).tolist() == [[1, 2]]
    assert top_k(scores, 3).tolist() == [[1, 2, 0]]


def test_top_k_pads_excluded_with_minus_one():
    scores = np.array([[2.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]])
    assert top_k(scores, 4).tolist() == [[0, 2, -1], [-1, -1, -1]]


def test_top_k_width_capped_at_columns():
    assert top_k(np.zeros((2, 3)), 10**12).shape == (2, 3)


def test_user_metrics_rejects_row_without_relevant():
    with pytest.raises(ValueError, match="relevant: row 1 has no relevant item"):
        user_metrics(np.array([[0], [1]]), np.array([[True, False], [False, False]]), 1)


@st.composite
def ranking_cases(draw):
    """Score rows with distinct values (-inf marks excluded anime) and relevance rows with a True each."""
    users = draw(st.integers(1, 4))
    anime = draw(st.integers(1, 9))
    k = draw(st.integers(1, 12))
    scores = np.empty((users, anime))
    relevant = np.zeros((users, anime), dtype=bool)
    for user in range(users):
        scores[user] = draw(st.permutations(range(anime)))
        excluded = draw(st.lists(st.booleans(), min_size=anime, max_size=anime))
        scores[user, np.array(excluded)] = -np.inf
        relevant[user] = draw(st.lists(st.booleans(), min_size=anime, max_size=anime))
        relevant[user, draw(st.integers(0, anime - 1))] = True
    return scores, relevant, k


@settings(deadline=None, max_examples=200)
@given(ranking_cases())
def test_metrics_bounded_and_match_reference(case):
    scores, relevant, k = case
    top = top_k(scores, k)
    metrics = user_metrics(top, relevant, k)
    for user in range(len(scores)):
        finite = np.flatnonzero(np.isfinite(scores[user]))
        ranked = finite[np.argsort(-scores[user, finite], kind="stable")].tolist()
        assert top[user].tolist() == (ranked + [-1] * k)[:min(k, scores.shape[1])]
        expected = reference_user(ranked, set(np.flatnonzero(relevant[user]).tolist()), k)
        for name, value in expected.items():
            assert metrics[name][user] == pytest.approx(value), name
    for name, values in metrics.items():
        assert np.all((values >= 0) & (values <= 1)), name
    assert np.all(metrics["precision"] * k <= relevant.sum(axis=1) + 1e-9)


@pytest.fixture(scope="module")
def split_model(small_ratings):
    train, test = small_ratings.split(0.2, seed=3)
    return Model(dim=32, epochs=10, seed=3).fit(train), train, test


def test_linear_scores_match_predict(split_model):
    model, _, _ = split_model
    users = model.user_ids[:4]
    z = linear_scores(model, model.user_factors[:4], model.user_bias[:4]).astype(np.float64)
    # The predictions also multiply z by the user's scale; the ranking does not need it.
    z *= model.user_scales[:4, np.newaxis]
    expected = model.predict(np.repeat(users, len(model.anime_ids)), np.tile(model.anime_ids, 4))
    scale = model._scale
    np.testing.assert_allclose(np.clip(z * scale.scale + scale.shift, scale.low, scale.high).ravel(),
                               expected, rtol=1e-4)


def test_real_model_beats_random_ranking(split_model):
    model, train, test = split_model
    result = ranking_metrics(model, train, test, k=10, threshold=8)
    assert result.users > 200
    assert result.unknown_users == len(set(test.user_ids.tolist()) - set(train.user_ids.tolist()))
    assert result.rows_in_train == 0
    # Random candidates would give precision about |relevant| / candidates,
    # well under 0.01 here; finding held-out anime at all shows they were
    # not excluded from the candidates.
    assert result.precision > 0.03
    for name in ("precision", "recall", "ndcg", "map", "coverage"):
        assert 0 <= getattr(result, name) <= 1, name


def test_seen_sets_include_validation_rows(small_ratings):
    train, validation = small_ratings.split(0.2, seed=3)
    model = Model(dim=16, epochs=2, seed=3).fit(train, validation=validation)
    result = ranking_metrics(model, None, validation, k=10)
    # Every held-out row whose user and anime the model has, including the
    # rows the validation RMSE drops for having no training score.
    known = np.isin(validation.user_ids, model.user_ids) & np.isin(validation.anime_ids, model.anime_ids)
    assert result.rows_in_train == np.count_nonzero(known)
    assert result.rows_in_train > model.fit_report_.validation_ratings
    assert ranking_metrics(model, train, validation, k=10).rows_in_train == 0


def test_dropped_validation_rows_not_recommended():
    # Anime 500 is known to the model only from an unrated row of user 0, so
    # the validation RMSE drops user 1's held-out score for it; it must still
    # count as seen for user 1.
    rng = np.random.default_rng(7)
    users = np.append(rng.integers(0, 200, 8_000), [0, 1])
    anime = np.append(rng.integers(0, 100, 8_000), [500, 500])
    scores = np.append(rng.integers(1, 11, 8_000).astype(float), [-1.0, 8.0])
    train_rows = np.arange(len(users) - 1)
    train = Ratings.from_arrays(users[train_rows], anime[train_rows], scores[train_rows])
    validation = Ratings.from_arrays(users[-1:], anime[-1:], scores[-1:])
    model = Model(dim=8, epochs=2, seed=0).fit(train, validation=validation)
    assert model.fit_report_.validation_dropped == 1
    recommended = [anime_id for anime_id, _ in model.recommend(1, n=1_000)]
    assert 500 not in recommended
    all_users, all_anime, _ = model.recommend_all(n=1_000)
    assert 500 not in all_anime[all_users == 1]


def test_cli_evaluate_prints_ranking(split_model, tmp_path, capsys):
    model, _, test = split_model
    model_path = tmp_path / "model.npz"
    model.save(model_path)
    ratings_path = tmp_path / "test.csv"
    lines = [f"{u},{a},{s:g}" for u, a, s in zip(test.user_ids, test.anime_ids, test.scores) if not np.isnan(s)]
    ratings_path.write_text("user_id,anime_id,rating\n" + "\n".join(lines) + "\n")
    assert main(["evaluate", str(model_path), str(ratings_path), "--k", "5", "--threshold", "9"]) == 0
    out = capsys.readouterr().out
    expected = ranking_metrics(model, None, test, k=5, threshold=9)
    assert f"precision@5: {expected.precision:.4f}" in out
    assert f"recall@5: {expected.recall:.4f}" in out
    assert f"NDCG@5: {expected.ndcg:.4f}" in out
    assert f"MAP@5: {expected.map:.4f}" in out
    assert "coverage@5: " in out


def test_cli_evaluate_rejects_bad_k(split_model, tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "absent.npz"), str(tmp_path / "absent.csv"), "--k", "0"]) == 1
    assert "--k: expected a positive integer, got 0" in capsys.readouterr().err
