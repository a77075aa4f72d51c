"""Fold-in: fit the embedding of a user the model has not seen, with the anime side fixed.

The model predicts ``f(z)`` with ``z = w * <p, q_i> + b + mu + b_u + b_i``.
For a new user only ``p`` and ``b_u`` are unknown, and ``z`` is linear in
``theta = [p, b_u]``: ``z_i = x_i . theta + o_i`` with ``x_i = [w * q_i, 1]``
and ``o_i = b + mu + b_i``. Fold-in minimises the loss that SGD minimises
for a trained user, on the model's internal score scale ``t_i``::

    sum_i (t_i - f(z_i))^2 + n * (regularization * |p|^2 + bias_regularization * b_u^2)

SGD applies the L2 penalty once per rating, so the penalty is scaled by the
user's number of ratings ``n``. Without biases ``theta = p`` and ``o_i = b + mu``.

A model trained with ``user_scale`` divides each user's targets by the
user's scale ``s`` and predicts ``s * f(z)``. Fold-in estimates ``s`` from
the given scores with the formula of training (see `Model`), fits
``theta`` to ``t_i / s`` and scales the predictions of `recommend_for` by
``s``. With few ratings ``s`` stays near 1.

- Identity output: this is ridge regression, solved in closed form.
- Sigmoid output: the start point is the ridge solution on the logit of
  the target (clipped to [0.001, 0.999]), refined by damped Gauss-Newton
  (Levenberg-Marquardt) steps on the loss above until it stops decreasing.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Mapping
from typing import List, Tuple

import numpy as np

from pyanimf.ranking import linear_scores, top_k

UNKNOWN_MODES = ("raise", "ignore")
# Targets are clipped to [_LOGIT_CLIP, 1 - _LOGIT_CLIP] before the logit, for the start point only.
_LOGIT_CLIP = 1e-3
_MAX_NEWTON_STEPS = 100


class UnknownAnimeError(KeyError):
    """Error raised when fold-in ratings name anime that are not in the model; `anime_ids` lists them."""

    def __init__(self, message: str, anime_ids: list):
        super().__init__(message)
        self.anime_ids = anime_ids


class UnknownAnimeWarning(UserWarning):
    """Warning that fold-in ratings named anime that are not in the model, and they were left out."""


def fold_in(model, ratings, *, unknown: str = "raise") -> Tuple[np.ndarray, float]:
    """Fit the embedding and bias of a user who is not in the training data.

    Parameters
    ----------
    model : Model
        A trained model. It is not changed.
    ratings : dict or iterable of (anime_id, score) pairs
        The new user's scores on the original rating scale. Each score must
        be a finite number within the range of the model's training scores,
        and each anime may appear once.
    unknown : {"raise", "ignore"}
        What to do with anime that are not in the model. "raise" raises
        KeyError listing all of them. "ignore" leaves them out and lists
        them in an `UnknownAnimeWarning`.

    Returns
    -------
    embedding : numpy.ndarray
        float64 vector of length ``model.dim``, comparable to a row of
        ``model.user_factors``.
    bias : float
        The user bias, 0.0 for a model trained with ``biases=False``.
        With ``model.user_scale`` the user's predictions are also multiplied
        by a scale, which `recommend_for` estimates from the same ratings
        (see the module docstring) and this function does not return.

    Raises
    ------
    ValueError
        For empty input (also when "ignore" leaves nothing), a duplicate
        anime, or a score that is not a finite number in the model's range.
    UnknownAnimeError
        A KeyError listing the unknown anime, with ``unknown="raise"``.

    See the module docstring for the loss that is minimised.
    """
    rows, scores = _known_ratings(model, ratings, unknown)
    embedding, bias, _ = _fit_user(model, rows, scores)
    return embedding, bias


def recommend_for(model, ratings, n: int = 10, *, unknown: str = "raise", exclude=()) -> List[Tuple[object, float]]:
    """Recommend anime for a new user from their ratings, by `fold_in`.

    Returns the `n` anime with the highest predicted score as (anime_id,
    score) pairs, best first, on the rating scale. The rated anime and the
    anime ids in `exclude` (for example anime on the user's list without a
    score) are never recommended. Ids in `exclude` that are not in the
    model are ignored, because they could not be recommended anyway. Fewer
    than `n` pairs are returned when fewer anime remain. `ratings` and
    `unknown` are as for `fold_in`.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative integer, got {n!r}")
    rows, scores = _known_ratings(model, ratings, unknown)
    embedding, bias, user_scale = _fit_user(model, rows, scores)
    if n == 0:
        return []

    raw = linear_scores(model, embedding, np.array([bias]))[0]
    raw[rows] = -np.inf
    exclude_ids = list(exclude)
    if exclude_ids:
        # An object array makes `lookup` match each id by its own type.
        query = np.empty(len(exclude_ids), dtype=object)
        query[:] = exclude_ids
        excluded_rows = model._anime.lookup(query)
        raw[excluded_rows[excluded_rows >= 0]] = -np.inf
    best = top_k(raw[np.newaxis, :], n)[0]
    best = best[best >= 0]
    predicted = model._scale.to_ratings(user_scale * _output(model, raw[best]))
    anime_ids = model.anime_ids[best]
    return [(_plain(anime), float(score)) for anime, score in zip(anime_ids, predicted)]


def _known_ratings(model, ratings, unknown: str) -> Tuple[np.ndarray, np.ndarray]:
    """Validate `ratings`; return the model rows of the known anime and their scores (float64)."""
    if unknown not in UNKNOWN_MODES:
        raise ValueError(f"unknown: expected one of {UNKNOWN_MODES}, got {unknown!r}")
    model._check_fitted()
    pairs = _as_pairs(ratings)
    if not pairs:
        raise ValueError("ratings: expected at least one (anime_id, score) pair, got none")

    low, high = model._scale.low, model._scale.high
    rows, scores, unknown_ids, seen = [], [], [], set()
    for anime_id, score in pairs:
        if isinstance(score, bool) or not isinstance(score, numbers.Real) or not math.isfinite(score):
            raise ValueError(f"ratings: the score of anime {anime_id!r} is {score!r}; expected a finite number")
        if not low <= score <= high:
            raise ValueError(
                f"ratings: the score of anime {anime_id!r} is {score!r}, outside the model's rating range "
                f"{low:g} to {high:g}; fold-in takes scores only, so leave out anime without one"
            )
        row = model._anime.index_of(anime_id)
        if row < 0:
            unknown_ids.append(anime_id)
            continue
        if row in seen:
            raise ValueError(f"ratings: anime {anime_id!r} appears more than once; give each anime one score")
        seen.add(row)
        rows.append(row)
        scores.append(float(score))

    if unknown_ids:
        listed = ", ".join(repr(_plain(a)) for a in unknown_ids)
        if unknown == "raise":
            raise UnknownAnimeError(
                f"{len(unknown_ids)} anime ids are not in the model: {listed}; remove them "
                "or pass unknown='ignore' to leave them out",
                [_plain(a) for a in unknown_ids],
            )
        warnings.warn(
            f"left out {len(unknown_ids)} anime ids that are not in the model: {listed}",
            UnknownAnimeWarning,
            stacklevel=3,
        )
    if not rows:
        raise ValueError("ratings: none of the anime ids is in the model, so there is nothing to fit")
    return np.array(rows, dtype=np.int64), np.array(scores, dtype=np.float64)


def _as_pairs(ratings) -> list:
    if isinstance(ratings, Mapping):
        return list(ratings.items())
    if isinstance(ratings, (str, bytes)):
        raise TypeError(
            f"ratings: expected a dict or (anime_id, score) pairs, got the string {ratings!r}"
        )
    try:
        items = list(ratings)
    except TypeError:
        raise TypeError(
            f"ratings: expected a dict or (anime_id, score) pairs, got {type(ratings).__name__}"
        ) from None
    pairs = []
    for position, item in enumerate(items):
        if isinstance(item, (str, bytes)) or not hasattr(item, "__len__") or len(item) != 2:
            raise TypeError(f"ratings[{position}]: expected an (anime_id, score) pair, got {item!r}")
        pairs.append((item[0], item[1]))
    return pairs


def _fit_user(model, rows: np.ndarray, scores: np.ndarray) -> Tuple[np.ndarray, float, float]:
    """Return the (embedding, bias, scale) that fold-in fits to the user's `scores` on anime `rows`."""
    weight, bias = model.output_layer
    features = float(weight) * model.anime_factors[rows].astype(np.float64)
    offsets = np.full(len(rows), float(bias) + float(model._arrays.global_mean))
    penalty = np.full(model.dim, model.regularization * len(rows))
    if model.biases:
        features = np.hstack([features, np.ones((len(rows), 1))])
        offsets += model.anime_bias[rows].astype(np.float64)
        penalty = np.append(penalty, model.bias_regularization * len(rows))
    scale = model._scale
    targets = (scores - scale.shift) / scale.scale
    user_scale = estimate_user_scale(targets) if model.user_scale else 1.0
    targets = targets / user_scale

    if model.output == "identity":
        theta = _ridge(features, targets - offsets, penalty)
    else:
        clipped = np.clip(targets, _LOGIT_CLIP, 1 - _LOGIT_CLIP)
        start = _ridge(features, np.log(clipped / (1 - clipped)) - offsets, penalty)
        theta = _gauss_newton(features, offsets, targets, penalty, start)
    if model.biases:
        return theta[:-1], float(theta[-1]), user_scale
    return theta, 0.0, user_scale


def estimate_user_scale(standardised: np.ndarray) -> float:
    """Return the scale s_u that training gives a user with these standardised scores.

    ``m = sum(r) / (n + k)`` and ``s = sqrt((sum((r - m)^2) + k) / (n + k))``
    with ``k = USER_SCALE_SHRINKAGE``, as ``BlockGrid.divide_by_user_scale``
    computes it in the core, in float64 and rounded to float32.
    """
    from pyanimf.model import USER_SCALE_SHRINKAGE

    values = np.asarray(standardised, dtype=np.float64)
    denominator = len(values) + USER_SCALE_SHRINKAGE
    mean = values.sum() / denominator
    deviations = values - mean
    return float(np.float32(np.sqrt((deviations @ deviations + USER_SCALE_SHRINKAGE) / denominator)))


def _ridge(features: np.ndarray, targets: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """Minimise |features @ theta - targets|^2 + sum(penalty * theta^2).

    With every penalty positive the normal equations are positive definite
    and small (dim + 1 unknowns), so they are solved directly. A zero
    penalty may leave them singular, so then the system stacked with
    sqrt(penalty) rows is solved by least squares (minimum-norm solution).
    """
    if np.all(penalty > 0):
        return np.linalg.solve(features.T @ features + np.diag(penalty), features.T @ targets)
    stacked = np.vstack([features, np.diag(np.sqrt(penalty))])
    rhs = np.concatenate([targets, np.zeros(len(penalty))])
    theta, *_ = np.linalg.lstsq(stacked, rhs, rcond=None)
    return theta


def _sigmoid_loss(features, offsets, targets, penalty, theta) -> float:
    predicted = 1.0 / (1.0 + np.exp(-(features @ theta + offsets)))
    errors = targets - predicted
    return float(errors @ errors + penalty @ (theta * theta))


def _gauss_newton(features, offsets, targets, penalty, theta) -> np.ndarray:
    """Levenberg-Marquardt on sum (t - sigmoid(x.theta + o))^2 + sum(penalty * theta^2)."""
    loss = _sigmoid_loss(features, offsets, targets, penalty, theta)
    damping = 1e-3
    for _ in range(_MAX_NEWTON_STEPS):
        predicted = 1.0 / (1.0 + np.exp(-(features @ theta + offsets)))
        jacobian = (predicted * (1 - predicted))[:, None] * features
        gradient = jacobian.T @ (targets - predicted) - penalty * theta
        curvature = jacobian.T @ jacobian + np.diag(penalty)
        improved = False
        while damping < 1e12:
            system = curvature + damping * np.diag(np.diag(curvature) + 1e-12)
            step = np.linalg.solve(system, gradient)
            candidate = theta + step
            candidate_loss = _sigmoid_loss(features, offsets, targets, penalty, candidate)
            if candidate_loss < loss:
                improved = True
                break
            damping *= 10
        if not improved:
            break
        converged = loss - candidate_loss <= 1e-12 * max(loss, 1e-300)
        theta, loss = candidate, candidate_loss
        damping = max(damping / 10, 1e-12)
        if converged:
            break
    return theta


def _output(model, raw: np.ndarray) -> np.ndarray:
    if model.output == "sigmoid":
        return 1.0 / (1.0 + np.exp(-raw))
    return raw


def _plain(value):
    """Return a numpy scalar as the matching Python int or str."""
    return value.item() if isinstance(value, np.generic) else value
