"""Model selection: K-fold cross-validation and grid or random search of settings."""

from __future__ import annotations

import inspect
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from pyanimf.errors import TrainingDivergedError
from pyanimf.model import Model
from pyanimf.ratings import Ratings

logger = logging.getLogger("pyanimf")


@dataclass(frozen=True)
class Fold:
    """Result of one cross-validation fold: RMSE on its held-out rows, on the rating scale."""

    fold: int
    rmse: float
    rows: int
    dropped: int


@dataclass(frozen=True)
class CrossValidation:
    """Per-fold results with the mean and the sample standard deviation (ddof=1) of their RMSE."""

    folds: List[Fold]
    mean: float
    sd: float

    @property
    def rmse(self) -> List[float]:
        """RMSE of each fold, in fold order."""
        return [fold.rmse for fold in self.folds]


@dataclass(frozen=True)
class Trial:
    """One setting tried by `tune`.

    `rmse` is the validation RMSE of the kept epoch (the best one with early
    stopping, else the last), and `best_epoch` that epoch. A trial whose
    training diverged has rmse = inf, best_epoch = 0 and the message in `error`.
    """

    settings: Dict[str, object]
    rmse: float
    best_epoch: int
    error: Optional[str] = None


@dataclass(frozen=True)
class TuneResult:
    """Trials of `tune` sorted by validation RMSE, lowest first, and the best of them."""

    trials: List[Trial]
    best: Trial


def split_folds(ratings: Ratings, folds: int = 5, seed: int = 0) -> List[np.ndarray]:
    """Split the scored rows of `ratings` into `folds` seeded random folds.

    Returns one sorted array of row indices per fold. The folds are
    disjoint, contain every scored row once, differ in size by at most
    one, and never contain an unrated row.
    """
    scored = np.flatnonzero(ratings.rated)
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or not 2 <= folds <= len(scored):
        raise ValueError(
            f"folds: expected an integer from 2 to the number of scored rows ({len(scored)}), got {folds!r}"
        )
    shuffled = np.random.default_rng(seed).permutation(scored)
    return [np.sort(part) for part in np.array_split(shuffled, folds)]


def cross_validate(
    ratings: Ratings,
    folds: int = 5,
    seed: int = 0,
    *,
    callback: Optional[Callable[[Fold], None]] = None,
    **model_settings,
) -> CrossValidation:
    """Estimate the RMSE of ``Model(**model_settings)`` by K-fold cross-validation.

    Each fold of `split_folds` (seeded by `seed`) is held out once, and a
    model is trained on all other rows, unrated rows included, without a
    validation split, so it trains all its epochs. Held-out rows whose user
    or anime has no scored training row cannot be predicted, so they are
    dropped and counted in `Fold.dropped`. `callback` is called with each
    `Fold` as soon as it is done. `seed` picks the folds and is also each
    model's ``seed``.
    """
    _check_settings(model_settings)
    model_settings["seed"] = seed
    Model(**model_settings)  # raises for invalid values before any training
    parts = split_folds(ratings, folds, seed)
    results = []
    for number, held_out in enumerate(parts, start=1):
        in_fold = np.zeros(len(ratings), dtype=bool)
        in_fold[held_out] = True
        train, test = ratings._take(~in_fold), ratings._take(in_fold)
        test, dropped = _predictable_rows(train, test)
        if len(test) == 0:
            raise ValueError(
                f"fold {number}: every held-out row has a user or anime without training scores; "
                "use fewer folds or more ratings"
            )
        model = Model(**model_settings).fit(train, progress=False)
        fold = Fold(fold=number, rmse=float(model.rmse(test)), rows=len(test), dropped=dropped)
        logger.info("fold %d: RMSE %.4f on %d rows (%d dropped)", number, fold.rmse, fold.rows, fold.dropped)
        results.append(fold)
        if callback is not None:
            callback(fold)
    rmse = np.array([fold.rmse for fold in results])
    return CrossValidation(folds=results, mean=float(rmse.mean()), sd=float(rmse.std(ddof=1)))


def tune(
    ratings: Ratings,
    grid: Dict[str, Sequence],
    validation: float = 0.1,
    seed: int = 0,
    max_trials: Optional[int] = None,
    *,
    callback: Optional[Callable[[Trial], None]] = None,
    **model_settings,
) -> TuneResult:
    """Search model settings by validation RMSE.

    Parameters
    ----------
    ratings : Ratings
        All ratings. One seeded split (`validation`, `seed`) holds out a
        fraction of the scored rows, the same for every trial.
    grid : dict of str to list
        Candidate values for ``Model`` settings, for example
        ``{"dim": [64, 128], "regularization": [0.02, 0.05]}``.
    validation : float
        Fraction of the scored rows held out, in (0, 1).
    seed : int
        Seed of the split, of the random search and of every model.
    max_trials : int or None
        With None, or at least the grid size, every combination is tried
        (grid search). With fewer, that many distinct combinations are drawn
        at random, seeded by `seed`.
    callback : callable or None
        Called with each `Trial` as soon as it is done.
    **model_settings
        Settings shared by all trials, such as ``epochs``; `grid` overrides them.

    Returns
    -------
    TuneResult
        Trials sorted by RMSE, lowest first, ties kept in trial order.

    Notes
    -----
    A trial whose training diverges is logged, kept with RMSE inf, and the
    search goes on. Raises ValueError when every trial diverges.
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError(f"grid: expected a non-empty dict of setting name to list of values, got {grid!r}")
    for name, values in grid.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"grid[{name!r}]: expected a non-empty list of values, got {values!r}")
    _check_settings({**model_settings, **grid})
    if "seed" in grid:
        raise ValueError("grid: 'seed' cannot be searched, because the seed argument of tune sets it")
    model_settings["seed"] = seed
    if isinstance(validation, bool) or not isinstance(validation, (int, float)) or not 0 < validation < 1:
        raise ValueError(f"validation: expected a fraction in (0, 1), got {validation!r}")

    combinations = _choose_combinations(grid, max_trials, seed)
    for values in combinations:
        Model(**{**model_settings, **dict(zip(grid, values))})  # raises for invalid values before any training
    train, held_out = ratings.split(validation, seed=seed)
    trials = []
    for values in combinations:
        settings = dict(zip(grid, values))
        trial = _run_trial(train, held_out, {**model_settings, **settings}, settings)
        trials.append(trial)
        if callback is not None:
            callback(trial)
    ranked = sorted(trials, key=lambda trial: trial.rmse)
    if math.isinf(ranked[0].rmse):
        raise ValueError(f"tune: training diverged in every trial; the first error was: {trials[0].error}")
    return TuneResult(trials=ranked, best=ranked[0])


def _choose_combinations(grid: dict, max_trials: Optional[int], seed: int) -> list:
    sizes = [len(values) for values in grid.values()]
    total = math.prod(sizes)
    if max_trials is None or max_trials >= total:
        return list(itertools.product(*grid.values()))
    if isinstance(max_trials, bool) or not isinstance(max_trials, (int, np.integer)) or max_trials < 1:
        raise ValueError(f"max_trials: expected a positive integer or None, got {max_trials!r}")
    rng = np.random.default_rng(seed)
    # Draw flat indices into the grid, so large grids are never listed in full.
    chosen = rng.choice(total, size=max_trials, replace=False)
    lists = list(grid.values())
    return [tuple(lists[axis][i] for axis, i in enumerate(np.unravel_index(flat, sizes))) for flat in chosen]


def _run_trial(train: Ratings, held_out: Ratings, settings: dict, varied: dict) -> Trial:
    model = Model(**settings)
    try:
        model.fit(train, validation=held_out, progress=False)
    except TrainingDivergedError as error:
        logger.warning("trial %s: %s", varied, error)
        return Trial(settings=varied, rmse=math.inf, best_epoch=0, error=str(error))
    if not model.history_:
        raise ValueError("tune: epochs is 0, so no trial can be scored; set epochs to at least 1")
    rmse = model.history_[model.best_epoch_ - 1].validation_rmse
    if rmse is None:
        raise ValueError(
            "tune: no validation row has a user and anime with training scores; raise validation or use more ratings"
        )
    logger.info("trial %s: validation RMSE %.4f at epoch %d", varied, rmse, model.best_epoch_)
    return Trial(settings=varied, rmse=float(rmse), best_epoch=model.best_epoch_)


def _predictable_rows(train: Ratings, test: Ratings):
    """Keep the rows of `test` whose user and anime have a scored row in `train`; returns (rows, dropped)."""
    trained_users = train.user_ids[train.rated]
    trained_anime = train.anime_ids[train.rated]
    keep = np.isin(test.user_ids, trained_users) & np.isin(test.anime_ids, trained_anime)
    return test._take(keep), int(len(keep) - keep.sum())


def _check_settings(settings: dict) -> None:
    allowed = [name for name in inspect.signature(Model.__init__).parameters if name != "self"]
    unknown = [name for name in settings if name not in allowed]
    if unknown:
        raise ValueError(f"unknown Model settings {unknown}; expected names from {allowed}")
