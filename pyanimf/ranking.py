"""Ranking metrics of top-k recommendations against held-out ratings."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Optional

import numpy as np

from pyanimf.ratings import Ratings


@dataclass(frozen=True)
class RankingMetrics:
    """Top-k ranking quality, averaged over the evaluated users.

    The metric fields are None when no user could be evaluated.

    Attributes
    ----------
    k, threshold : int, float
        The cut-off and the relevance threshold the metrics were computed with.
    precision, recall, ndcg, map : float or None
        Mean precision@k, recall@k, NDCG@k and average precision@k.
    coverage : float or None
        Distinct anime in the evaluated users' top-k lists / anime in the model.
    users : int
        Evaluated users: known to the model, with at least one relevant held-out row.
    users_without_relevant : int
        Users known to the model whose held-out rows contain nothing relevant; skipped.
    unknown_users : int
        Distinct held-out users that are not in the model; skipped.
    unknown_anime_rows : int
        Scored held-out rows of known users whose anime is not in the model.
    rows_in_train : int
        Scored held-out rows whose anime is among the user's training items,
        so it can never be recommended; not counted as relevant.
    """

    k: int
    threshold: float
    precision: Optional[float]
    recall: Optional[float]
    ndcg: Optional[float]
    map: Optional[float]
    coverage: Optional[float]
    users: int
    users_without_relevant: int
    unknown_users: int
    unknown_anime_rows: int
    rows_in_train: int


def ranking_metrics(
    model, train: Optional[Ratings], test: Ratings, k: int = 10, threshold: float = 8.0, *, batch_size: int = 1024
) -> RankingMetrics:
    """Compute precision@k, recall@k, NDCG@k, MAP@k and coverage of `model` on `test`.

    Parameters
    ----------
    model : Model
        A trained model.
    train : Ratings or None
        The rows the model was trained on, rated or only listed. A user's
        anime in `train` are the user's *training items*. None uses the
        model's own seen sets, which also contain the validation rows passed
        to ``fit``, so held-out rows that were validation rows are then
        treated as training items.
    test : Ratings
        Held-out ratings. Only scored rows are used.
    k : int
        Length of each top-k list.
    threshold : float
        A held-out row is relevant when its score is >= `threshold`.
    batch_size : int
        Users scored at a time; memory is about batch_size x n_anime x 4 bytes.

    Returns
    -------
    RankingMetrics

    Notes
    -----
    For each user u of `test` known to the model:

    - relevant set R_u: u's scored `test` rows with score >= `threshold`
      whose anime is in the model and not among u's training items;
    - candidates: every anime of the model except u's training items, so
      held-out anime stay candidates;
    - top-k list L_u: the k candidates with the highest predicted score
      (the model's score before clipping to the rating range, so clipping
      creates no ties), best first, shorter when fewer candidates exist;
    - with rel_j = 1 when the j-th item of L_u is in R_u, else 0:
      precision@k = sum(rel) / k;
      recall@k = sum(rel) / |R_u|;
      NDCG@k = sum_j rel_j / log2(j + 1) divided by the same sum over the
      first min(k, |R_u|) positions of an ideal list;
      AP@k = sum_j rel_j * precision@j / min(k, |R_u|).

    Users with an empty R_u are skipped and counted. The four metrics are
    means over the remaining users. Coverage is the number of distinct
    anime in their top-k lists divided by the number of anime in the model.
    """
    _check_positive_int("k", k)
    _check_positive_int("batch_size", batch_size)
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not math.isfinite(threshold):
        raise ValueError(f"threshold: expected a finite number, got {threshold!r}")
    for name, value in (("train", train), ("test", test)):
        if not isinstance(value, Ratings) and not (name == "train" and value is None):
            allowed = "a Ratings or None" if name == "train" else "a Ratings"
            raise TypeError(f"{name}: expected {allowed}, got {type(value).__name__}")
    model._check_fitted()

    n_anime = len(model.anime_ids)
    train_indptr, train_items = model._seen if train is None else _items_per_user(model, train)
    held_out = _held_out_rows(model, test, threshold, train_indptr, train_items)
    users, relevant_anime = held_out["relevant"]
    order = np.argsort(users, kind="stable")
    users, relevant_anime = users[order], relevant_anime[order]
    evaluated = np.unique(users)

    sums = np.zeros(4)
    recommended = np.zeros(n_anime, dtype=bool)
    for start in range(0, len(evaluated), batch_size):
        batch = evaluated[start:start + batch_size]
        scores = linear_scores(model, model.user_factors[batch], model.user_bias[batch])
        _exclude(scores, batch, train_indptr, train_items)
        top = top_k(scores, k)
        # `users` is sorted, so the batch's relevant pairs are one slice.
        first = np.searchsorted(users, batch[0], side="left")
        last = np.searchsorted(users, batch[-1], side="right")
        relevant = np.zeros(scores.shape, dtype=bool)
        relevant[np.searchsorted(batch, users[first:last]), relevant_anime[first:last]] = True
        per_user = user_metrics(top, relevant, k)
        sums += [per_user[name].sum() for name in ("precision", "recall", "ndcg", "map")]
        recommended[top[top >= 0]] = True

    count = len(evaluated)
    means = [float(total / count) if count else None for total in sums]
    return RankingMetrics(
        k=k,
        threshold=float(threshold),
        precision=means[0],
        recall=means[1],
        ndcg=means[2],
        map=means[3],
        coverage=float(recommended.sum() / n_anime) if count else None,
        users=count,
        users_without_relevant=held_out["known_users"] - count,
        unknown_users=held_out["unknown_users"],
        unknown_anime_rows=held_out["unknown_anime_rows"],
        rows_in_train=held_out["rows_in_train"],
    )


def linear_scores(model, user_factors: np.ndarray, user_bias: np.ndarray) -> np.ndarray:
    """Return z = w * <p, q_i> + b + mu (+ b_u + b_i) for every anime, one row per embedding.

    This is the model's score before the output function, the user's scale
    and the map back to the rating scale. The first and last are increasing
    and the scale is positive, so ranking by it ranks as the predictions do. Computed in float32 like the factors,
    because a float64 embedding times float32 factors misses the BLAS path.
    """
    weight, bias = model.output_layer
    anime_factors = model.anime_factors
    factors = np.atleast_2d(np.asarray(user_factors, dtype=anime_factors.dtype))
    scores = factors @ anime_factors.T
    scores *= weight
    scores += bias + model._arrays.global_mean
    if model.biases:
        scores += np.asarray(user_bias, dtype=scores.dtype).reshape(-1, 1)
        scores += model.anime_bias.astype(scores.dtype)
    return scores


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the column indices of the k highest finite scores of each row, best first.

    The result has min(k, columns) columns, so a k larger than the
    catalogue allocates nothing extra. Rows with fewer finite scores are
    padded with -1, so give excluded entries the score -inf. Equal scores
    are ordered by column.
    """
    _check_positive_int("k", k)
    rows, columns = scores.shape
    width = min(k, columns)
    result = np.full((rows, width), -1, dtype=np.int64)
    if width == 0 or rows == 0:
        return result
    # NOTE: argpartition splits ties at the k-th place arbitrarily, so which of
    # several equal scores makes the cut is unspecified.
    candidates = np.argpartition(-scores, width - 1, axis=1)[:, :width]
    candidate_scores = np.take_along_axis(scores, candidates, axis=1)
    order = np.lexsort((candidates, -candidate_scores), axis=1)
    best = np.take_along_axis(candidates, order, axis=1)
    best_scores = np.take_along_axis(candidate_scores, order, axis=1)
    return np.where(np.isfinite(best_scores), best, -1)


def user_metrics(top: np.ndarray, relevant: np.ndarray, k: int) -> dict:
    """Return per-user precision@k, recall@k, NDCG@k and AP@k as arrays, keyed by name.

    `top` contains each user's top-k column indices (-1 for padding), as from
    `top_k`, with at most k columns. `relevant` is a users x anime boolean
    matrix with at least one True per row. The definitions are those of
    `ranking_metrics`.
    """
    _check_positive_int("k", k)
    if top.ndim != 2 or top.shape[1] > k:
        raise ValueError(f"top: expected a 2-D array with at most k={k} columns, got shape {top.shape}")
    if relevant.ndim != 2 or relevant.shape[0] != top.shape[0]:
        raise ValueError(
            f"relevant: expected a 2-D array with {top.shape[0]} rows like top, got shape {relevant.shape}"
        )
    relevant_count = relevant.sum(axis=1)
    if (relevant_count == 0).any():
        row = int(np.flatnonzero(relevant_count == 0)[0])
        raise ValueError(f"relevant: row {row} has no relevant item; leave such users out")

    hits = (top >= 0) & np.take_along_axis(relevant, np.maximum(top, 0), axis=1)
    hit_count = hits.sum(axis=1)
    ideal_length = np.minimum(relevant_count, k)
    # Discounts are needed up to the list length and up to the longest ideal
    # list, both of which are at most the catalogue size even when k is not.
    longest_ideal = int(ideal_length.max()) if len(ideal_length) else 0
    positions = np.arange(1, max(top.shape[1], longest_ideal) + 1)
    discounts = 1.0 / np.log2(positions + 1)
    ideal_dcg = np.cumsum(discounts)[ideal_length - 1]
    list_positions = positions[: top.shape[1]]
    precision_at_j = np.cumsum(hits, axis=1) / list_positions
    return {
        "precision": hit_count / k,
        "recall": hit_count / relevant_count,
        "ndcg": (hits @ discounts[: top.shape[1]]) / ideal_dcg,
        "map": (precision_at_j * hits).sum(axis=1) / ideal_length,
    }


def _items_per_user(model, ratings: Ratings):
    """CSR (indptr, anime rows) of each model user's anime in `ratings`; unknown ids are skipped."""
    users = model._users.lookup(ratings.user_ids)
    anime = model._anime.lookup(ratings.anime_ids)
    known = (users >= 0) & (anime >= 0)
    return _csr(users[known], anime[known], len(model.user_ids))


def _csr(users: np.ndarray, anime: np.ndarray, n_users: int):
    order = np.lexsort((anime, users))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(users, minlength=n_users), out=indptr[1:])
    return indptr, anime[order].astype(np.int32)


def _held_out_rows(model, test: Ratings, threshold: float, train_indptr, train_items) -> dict:
    """Classify the scored rows of `test`; returns counts and the relevant (user row, anime row) pairs."""
    scored = test.rated
    users = model._users.lookup(test.user_ids[scored])
    anime = model._anime.lookup(test.anime_ids[scored])
    scores = test.scores[scored]
    known_user = users >= 0
    known = known_user & (anime >= 0)

    n_anime = len(model.anime_ids)
    train_users = np.repeat(np.arange(len(train_indptr) - 1), np.diff(train_indptr))
    train_keys = train_users.astype(np.int64) * n_anime + train_items
    keys = users[known].astype(np.int64) * n_anime + anime[known]
    in_train = np.isin(keys, train_keys)
    relevant = (scores[known] >= threshold) & ~in_train
    return {
        "relevant": (users[known][relevant], anime[known][relevant]),
        "known_users": len(np.unique(users[known_user])),
        "unknown_users": len(np.unique(test.user_ids[scored][~known_user])),
        "unknown_anime_rows": int(known_user.sum() - known.sum()),
        "rows_in_train": int(in_train.sum()),
    }


def _exclude(scores: np.ndarray, batch: np.ndarray, indptr: np.ndarray, items: np.ndarray) -> None:
    """Set the scores of each batch user's training items to -inf."""
    starts, stops = indptr[batch], indptr[batch + 1]
    rows = np.repeat(np.arange(len(batch)), stops - starts)
    columns = np.concatenate([items[a:b] for a, b in zip(starts, stops)]) if len(batch) else items[:0]
    scores[rows, columns] = -np.inf


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
