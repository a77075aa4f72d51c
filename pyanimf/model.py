"""The Model class: matrix factorization trained by the core's parallel SGD."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import numpy as np

from pyanimf import _core
from pyanimf.ids import IdIndex
from pyanimf.ratings import Ratings
from pyanimf.scaling import ScoreScale
from pyanimf.threads import resolve_threads
from pyanimf.training import EpochRecord, TrainingInterrupted, TrainingRun, ValidationSet, run_epochs

logger = logging.getLogger("pyanimf")

OUTPUTS = ("identity", "sigmoid")

# With grid_size=None, the anime rows of one column group take at most this much memory.
GRID_GROUP_BYTES = 768 * 1024

# With threads=None, fit uses at most one thread per this many training scores.
RATINGS_PER_AUTOMATIC_THREAD = 100_000

# Shrinkage k of the user scale: the formula acts as if each user had k more
# scores of squared deviation 1 (the variance of all standardised scores), so
# a user with few scores gets a scale near 1.
USER_SCALE_SHRINKAGE = 20.0

# Settings left as None take these values, by output function. The sigmoid
# output passes gradients scaled by y(1 - y) <= 1/4 on [0, 1]-scaled scores,
# so it needs a larger step and less shrinkage than the identity output on
# standardised scores. Measured on the bundled sample with a 10% split.
# The implicit term's step (for its anime rows y_j, once per epoch along
# the mean of their gradient over the users who listed the anime) was also
# checked for stability on synthetic data of 7.8 and 57 million ratings
# (bench/RESULTS.md).
OUTPUT_DEFAULTS = {
    "identity": {"learning_rate": 0.01, "regularization": 0.05, "dense_learning_rate": 1e-5,
                 "implicit_learning_rate": 0.02},
    "sigmoid": {"learning_rate": 0.1, "regularization": 0.001, "dense_learning_rate": 1e-3,
                "implicit_learning_rate": 0.2},
}


@dataclass(frozen=True)
class Evaluation:
    """Accuracy of a model on a set of ratings, on the original rating scale.

    Rows whose user or anime the model does not know are counted in
    `unknown` and left out of the metrics; `rmse` and `mae` are None when no
    row is left.
    """

    rmse: Optional[float]
    mae: Optional[float]
    rows: int
    unknown: int


@dataclass(frozen=True)
class FitReport:
    """Summary of the data and resources `Model.fit` used."""

    train_ratings: int
    unrated_rows: int
    validation_ratings: int
    validation_dropped: int
    threads: int
    kernel: str
    grid_size: int
    implicit: bool = False


def automatic_grid_size(n_anime: int, dim: int) -> int:
    """Return the grid size that fit uses when ``grid_size`` is None.

    The smallest size from 8 up for which one column group's anime rows
    (padded to 16 floats) take at most 768 KiB, capped at 64. Each block
    then updates anime rows that stay in a core's L2 cache (1 MiB on AMD
    Zen 4), while users are revisited as few times an epoch as that allows,
    since each visit reloads a user's row from memory. It depends on the
    data only, so the model is the same for any thread count.
    """
    row_bytes = -(-dim // 16) * 16 * 4
    needed = -(-n_anime * row_bytes // GRID_GROUP_BYTES)
    return int(min(max(needed, 8), 64))


class Model:
    """Matrix factorization of a user x anime rating matrix.

    A prediction is ``s_u * f(w * <p_u, q_i> + b + mu + b_u + b_i)`` mapped
    back to the rating scale and clipped to the range of the training
    scores. ``p_u`` and ``q_i`` are ``dim``-long user and anime embeddings,
    ``w`` and ``b`` the single dense output layer over their dot product,
    ``mu``, ``b_u`` and ``b_i`` the global mean and the biases. All are
    trained together by stochastic gradient descent on the known ratings
    only. ``s_u`` is the user's rating scale (see `user_scale`), fixed
    before training; it is 1 when `user_scale` is off.

    Parameters
    ----------
    dim : int
        Length of each embedding.
    epochs : int
        Passes over the training ratings.
    learning_rate : float or None
        SGD step size, on standardised scores for ``output="identity"`` and on
        [0, 1]-scaled scores for ``output="sigmoid"``. None means 0.01 for
        the identity output and 0.1 for the sigmoid.
    regularization : float or None
        L2 penalty on the embeddings. None means 0.05 for the identity output
        and 0.001 for the sigmoid.
    bias_regularization : float
        L2 penalty on the user and anime biases.
    biases : bool
        Whether ``mu``, ``b_u`` and ``b_i`` are part of the prediction.
    output : {"identity", "sigmoid"}
        The output function ``f``. ``"identity"`` trains on standardised
        scores; ``"sigmoid"`` trains on scores min-max scaled to [0, 1]. With
        ``biases=False`` and ``output="sigmoid"`` the model is the classic
        Keras design Embedding -> Dot -> Dense -> sigmoid.
    threads : int or None
        Training threads. None means OMP_NUM_THREADS if set, else the CPUs
        this process may use, capped at one thread per 100,000 training
        scores. The trained model does not depend on it.
    seed : int
        Seed of the initial embeddings, the block grid and the epoch order.
        The same seed gives a bit-identical model for any thread count.
    grid_size : int or None
        The rating matrix is cut into ``grid_size x grid_size`` blocks for the
        conflict-free parallel schedule; changing it changes the model. None
        picks it from the data's shape (`automatic_grid_size`): 8 or more,
        so that one block's anime rows take at most about 768 KiB and stay
        in a core's L2 cache. At least twice the thread count keeps threads
        busy, so with more than 4 threads set it to twice their number.
    init_std : float
        Standard deviation of the initial embeddings times ``sqrt(dim)``.
        They are drawn uniformly, the same for any thread count.
    dense_learning_rate : float or None
        SGD step size of the output layer's weight and bias. Every rating
        updates them, so it is far smaller than `learning_rate`. None means
        1e-5 for the identity output and 1e-3 for the sigmoid.
    early_stopping : bool
        With a validation set, stop once validation RMSE has not improved for
        `patience` epochs and keep the best epoch's model (``best_epoch_``).
        Keeping it costs one copy of the embeddings.
    patience : int
        Epochs without improvement before early stopping.
    user_scale : bool or None
        Whether each user gets a rating scale ``s_u``, for users who spread
        their scores more or less widely than others. With ``r_uj`` the
        user's standardised training scores, ``n_u`` their number and
        ``k = 20``, ``m_u = sum_j r_uj / (n_u + k)`` and
        ``s_u = sqrt((sum_j (r_uj - m_u)^2 + k) / (n_u + k))``, so a user
        with few scores gets a scale near 1. SGD trains user u on
        ``r_uj / s_u``. ``s_u > 0``, so each user's ranking of the anime
        does not change. Only for the identity output; None means True for
        the identity output and False for the sigmoid.
    implicit : bool or None
        Whether the anime on each user's list, scored or not, also describe
        the user, as in SVD++: the user vector becomes ``p_u = x_u + z_u``
        with ``z_u = |N(u)|^-1/2 * sum of y_j`` over the anime ``j`` of the
        user's training rows, unrated (``-1``) rows included, and a second
        row ``y_j`` for each anime. This is how the unrated rows, which
        have no score, inform the model. ``z`` is held fixed during an epoch
        and the ``y_j`` take one step after it, so training stays
        conflict-free and deterministic. An epoch takes about three times as
        long (measured on synthetic data shaped like Kaggle's 2017 set).
        None means on when the training data has unrated rows. The saved
        model stores ``p_u``, and the ``y_j`` are used for training only, so
        `fold_in` fits a new user's ``p_u`` directly from their scores.
    implicit_learning_rate : float or None
        Step size of the ``y_j``, taken once per epoch along the mean of
        their gradient over the users who listed the anime. The mean keeps
        one step size right for any number of users. None means 0.02 for
        the identity output and 0.2 for the sigmoid.

    Notes
    -----
    Not thread-safe during ``fit``; the query methods may be called from
    several threads once the model is trained.
    """

    def __init__(
        self,
        dim: int = 128,
        *,
        epochs: int = 40,
        learning_rate: Optional[float] = None,
        regularization: Optional[float] = None,
        bias_regularization: float = 0.01,
        biases: bool = True,
        output: str = "identity",
        threads: Optional[int] = None,
        seed: int = 0,
        grid_size: Optional[int] = None,
        init_std: float = 0.1,
        dense_learning_rate: Optional[float] = None,
        early_stopping: bool = True,
        patience: int = 5,
        user_scale: Optional[bool] = None,
        implicit: Optional[bool] = None,
        implicit_learning_rate: Optional[float] = None,
    ):
        if output not in OUTPUTS:
            raise ValueError(f"output: expected one of {OUTPUTS}, got {output!r}")
        if user_scale is None:
            user_scale = output == "identity"
        _check_bool("user_scale", user_scale)
        if user_scale and output != "identity":
            raise ValueError(
                f"user_scale: the user scale needs output='identity', got output={output!r}, "
                "so pass user_scale=False or leave it None"
            )
        defaults = OUTPUT_DEFAULTS[output]
        learning_rate = defaults["learning_rate"] if learning_rate is None else learning_rate
        regularization = defaults["regularization"] if regularization is None else regularization
        if dense_learning_rate is None:
            dense_learning_rate = defaults["dense_learning_rate"]
        if implicit_learning_rate is None:
            implicit_learning_rate = defaults["implicit_learning_rate"]
        _check_int("dim", dim, 1, 65536)
        _check_int("epochs", epochs, 1, 1_000_000)
        if grid_size is not None:
            _check_int("grid_size", grid_size, 1, 1024)
        _check_int("seed", seed, 0, 2**64 - 1)
        _check_float("learning_rate", learning_rate, positive=True)
        _check_float("regularization", regularization)
        _check_float("bias_regularization", bias_regularization)
        _check_float("init_std", init_std)
        _check_float("dense_learning_rate", dense_learning_rate)
        _check_int("patience", patience, 1, 1_000_000)
        _check_bool("biases", biases)
        _check_bool("early_stopping", early_stopping)
        if implicit is not None and not isinstance(implicit, (bool, np.bool_)):
            raise ValueError(
                f"implicit: expected True, False or None (on when there are unrated rows), got {implicit!r}"
            )
        _check_float("implicit_learning_rate", implicit_learning_rate)
        if threads is not None:
            resolve_threads(threads)
        self.dim = dim
        self.epochs = epochs
        self.learning_rate = float(learning_rate)
        self.regularization = float(regularization)
        self.bias_regularization = float(bias_regularization)
        self.biases = bool(biases)
        self.output = output
        self.threads = threads
        self.seed = seed
        self.grid_size = grid_size
        self.init_std = float(init_std)
        self.dense_learning_rate = float(dense_learning_rate)
        self.early_stopping = bool(early_stopping)
        self.patience = patience
        self.user_scale = bool(user_scale)
        self.implicit = implicit if implicit is None else bool(implicit)
        self.implicit_learning_rate = float(implicit_learning_rate)
        self.kernel = "auto"
        self.history_: List[EpochRecord] = []
        self.best_epoch_: int = 0
        self.fit_report_: Optional[FitReport] = None
        self._arrays = None

    # ------------------------------------------------------------------ fit

    def fit(
        self,
        *data,
        validation=None,
        unrated: Optional[float] = -1.0,
        progress: Optional[bool] = None,
        callback: Optional[Callable[[EpochRecord], None]] = None,
    ) -> "Model":
        """Train on ratings; returns self.

        Call as ``fit(ratings)`` with what `load_ratings` returns, or as
        ``fit(user_ids, anime_ids, scores)`` with three equal-length arrays
        (ids may be integers or strings; a score equal to `unrated` marks an
        anime on the user's list without a score).

        `validation` is a `Ratings`, a fraction of the scored rows to hold
        out (seeded by the model's seed), or None. Held-out rows whose user
        or anime has no scored training row are dropped and counted in
        ``fit_report_``. `callback` is called with an `EpochRecord` after
        each epoch; ``history_`` keeps them all.

        Ctrl-C in the main thread stops training after the epoch in progress:
        the model keeps the epoch a normal end would keep among the completed
        ones, then `pyanimf.training.TrainingInterrupted` (a
        KeyboardInterrupt) is raised. Any other failure, such as
        TrainingDivergedError, leaves the model untrained.
        """
        return self._fit(_as_ratings(data, unrated), validation, progress, callback, owns_ratings=False)

    def _fit(self, ratings: Ratings, validation, progress, callback, owns_ratings: bool) -> "Model":
        """Train as `fit` does. With `owns_ratings` the caller gives up the id arrays of `ratings`.

        Fit then writes the users' and anime's codes over int32 id arrays
        instead of making new ones, and the grid gives the memory of the
        codes and scores back while it copies them, so the peak contains
        little more than one copy of the ratings. The arrays of `ratings`
        may read as zeros afterwards. The command line passes it, because it
        does not read the ratings after fit. A validation fraction makes
        new training arrays, which fit owns in any case.
        """
        if isinstance(validation, (float, int)) and not isinstance(validation, bool):
            train, validation = ratings.split(float(validation), seed=self.seed)
            owns_ratings = owns_ratings or train is not ratings
            ratings = train
        n_scores = ratings.n_rated
        if n_scores == 0:
            raise ValueError(
                "fit: no scored ratings to train on (every row is unrated, the input is empty, or the "
                "validation fraction held out every score, so lower it)"
            )

        # From here on the old model is replaced; it stays untrained unless training ends or is interrupted.
        self._arrays = None
        threads = resolve_threads(self.threads)
        users, user_codes = IdIndex.encode(ratings.user_ids, threads, in_place=owns_ratings)
        anime, anime_codes = IdIndex.encode(ratings.anime_ids, threads, in_place=owns_ratings)
        self._scale = ScoreScale.fit(ratings.scores, self.output, threads)
        if self.threads is None:
            # On a small data set the blocks are short, so the cost of
            # starting tasks, and on a busy machine of waiting for a
            # descheduled thread, outweighs the work. The model is the same
            # for any thread count, so the automatic choice caps it by size.
            threads = max(1, min(threads, n_scores // RATINGS_PER_AUTOMATIC_THREAD))
        logger.info(
            "fit: %d scores, %d users, %d anime, dim %d, %d threads, kernel %s, OpenMP %s",
            n_scores, len(users), len(anime), self.dim, threads,
            _core.available_kernels()[0] if self.kernel == "auto" else self.kernel,
            "on" if _core.openmp_enabled else "off",
        )

        grid_size = self.grid_size if self.grid_size is not None else automatic_grid_size(len(anime), self.dim)
        # The grid leaves out the unrated rows (NaN) and standardises the
        # scores itself, so fit passes the columns without filtered copies.
        # The codes are fit's own, so the grid may release them as it copies.
        grid = _core.BlockGrid(
            user_codes, anime_codes, np.ascontiguousarray(ratings.scores),
            len(users), len(anime), grid_size, self.seed, threads,
            shift=self._scale.shift, scale=self._scale.scale,
            release_ids=True, release_scores=owns_ratings,
        )
        del user_codes, anime_codes
        user_scales = grid.divide_by_user_scale(USER_SCALE_SHRINKAGE, threads) if self.user_scale else None
        implicit = self.implicit if self.implicit is not None else len(ratings) > n_scores
        lists = _core.ImplicitLists(grid, threads) if implicit else None
        # The grid renumbers users and anime so that each of its groups is a
        # contiguous range of rows; the model's rows follow that numbering.
        self._users = _renumber(users, grid.user_permutation())
        self._anime = _renumber(anime, grid.item_permutation())
        self._arrays = self._initial_arrays(len(self._users), len(self._anime), threads)
        if user_scales is not None:
            self._arrays.user_scale[:] = user_scales
        if implicit:
            self._arrays.enable_implicit()
        held_out = self._validation_set(validation, grid.user_counts() > 0, grid.item_counts() > 0)
        run = TrainingRun(
            grid=grid, settings=self._settings(), scale=self._scale, epochs=self.epochs,
            threads=threads, seed=self.seed, kernel=self.kernel, validation=held_out,
            progress=progress, callback=callback,
            early_stopping=self.early_stopping, patience=self.patience,
            implicit_lists=lists, implicit_learning_rate=self.implicit_learning_rate,
        )
        interrupted = None
        try:
            outcome = run_epochs(self._arrays, run, 1.0, 0.0)
        except TrainingInterrupted as error:
            outcome, interrupted = error.outcome, error
        except BaseException:
            # Divergence leaves NaN in the arrays, and a KeyboardInterrupt
            # raised past the SIGINT handler a partly trained epoch.
            self._arrays = None
            raise
        self._weight, self._bias, self.history_, self.best_epoch_ = outcome
        # Training is over: the seen sets take the grid's ratings, which it
        # releases as they are read, and the implicit term's arrays go.
        del run, lists
        self._arrays.disable_implicit()
        self._seen = _seen_sets(grid, self._known_pairs(validation), threads)
        del grid
        self.fit_report_ = FitReport(
            train_ratings=n_scores,
            unrated_rows=len(ratings) - n_scores,
            validation_ratings=0 if held_out is None else len(held_out.scores),
            validation_dropped=0 if held_out is None else held_out.dropped,
            threads=threads,
            kernel=_core.available_kernels()[0] if self.kernel == "auto" else self.kernel,
            grid_size=grid_size,
            implicit=implicit,
        )
        if interrupted is not None:
            raise interrupted
        return self

    def _initial_arrays(self, n_users: int, n_anime: int, threads: int):
        # Uniform on [-h, h) has standard deviation h / sqrt(3).
        half_width = np.sqrt(3.0) * self.init_std / np.sqrt(self.dim)
        arrays = _core.ModelArrays.uniform(n_users, n_anime, self.dim, half_width, self.seed, threads)
        arrays.global_mean = 0.0
        return arrays

    def _settings(self):
        settings = _core.SgdSettings()
        settings.learning_rate = self.learning_rate
        settings.regularization = self.regularization
        settings.bias_regularization = self.bias_regularization
        settings.dense_learning_rate = self.dense_learning_rate
        settings.use_biases = self.biases
        settings.output = self.output
        return settings

    def _validation_set(self, validation, trained_users, trained_anime) -> Optional[ValidationSet]:
        """Return the scored rows of `validation` whose user and anime have training scores, in model rows.

        `trained_users` and `trained_anime` flag the model rows with at least one training score.
        """
        if validation is None:
            return None
        if not isinstance(validation, Ratings):
            raise TypeError(
                f"validation: expected a Ratings, a fraction or None, got {type(validation).__name__}"
            )
        scored = validation.rated
        users = self._users.lookup(validation.user_ids[scored])
        anime = self._anime.lookup(validation.anime_ids[scored])
        known = (users >= 0) & (anime >= 0)
        known[known] = trained_users[users[known]] & trained_anime[anime[known]]
        dropped = int(len(known) - known.sum())
        if dropped:
            logger.info("validation: dropped %d rows whose user or anime has no training score", dropped)
        return ValidationSet(
            users=np.ascontiguousarray(users[known], dtype=np.int32),
            items=np.ascontiguousarray(anime[known], dtype=np.int32),
            scores=validation.scores[scored][known].astype(np.float64),
            dropped=dropped,
        )

    def _known_pairs(self, ratings: Optional[Ratings]) -> Tuple[np.ndarray, np.ndarray]:
        """Return the model rows (users, anime) of the rows of `ratings` whose user and anime the model has.

        These go into the seen sets, so they include the held-out rows that
        the validation RMSE leaves out, and unrated rows.
        """
        if ratings is None:
            return np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int32)
        users = self._users.lookup(ratings.user_ids)
        anime = self._anime.lookup(ratings.anime_ids)
        known = (users >= 0) & (anime >= 0)
        return (np.ascontiguousarray(users[known], dtype=np.int32),
                np.ascontiguousarray(anime[known], dtype=np.int32))

    # -------------------------------------------------------------- queries

    def predict(self, user_ids, anime_ids) -> np.ndarray:
        """Predicted scores on the original rating scale, one per (user, anime) pair.

        Raises KeyError naming the first unknown id and how many ids are unknown.
        """
        self._check_fitted()
        users = self._codes(self._users, user_ids, "user")
        anime = self._codes(self._anime, anime_ids, "anime")
        if len(users) != len(anime):
            raise ValueError(f"predict: expected user_ids and anime_ids of equal length, got {len(users)} and {len(anime)}")
        return self._predict_codes(users, anime)

    def recommend(self, user_id, n: int = 10) -> List[Tuple[object, float]]:
        """Return the `n` anime with the highest predicted score that the user has
        not rated and does not have on their list, best first, as (anime_id, score).

        Fewer than `n` when fewer anime remain.
        """
        self._check_fitted()
        _check_int("n", n, 0, 2**31 - 1)
        user = self._code(self._users, user_id, "user")
        seen = self._seen_items(user)
        indices, internal = _core.top_n_items(
            self._arrays, self._settings(), self._weight, self._bias, user, seen, n, self.kernel
        )
        scores = self._scale.to_ratings(internal)
        anime_ids = self._anime.ids[indices]
        return [(_plain(a), float(s)) for a, s in zip(anime_ids, scores)]

    def fold_in(self, ratings, *, unknown: str = "raise") -> Tuple[np.ndarray, float]:
        """Fit (embedding, bias) of a user not in the training data from their
        (anime_id, score) pairs or dict; see `pyanimf.foldin.fold_in`."""
        from pyanimf.foldin import fold_in

        return fold_in(self, ratings, unknown=unknown)

    def recommend_for(self, ratings, n: int = 10, *, unknown: str = "raise", exclude=()) -> List[Tuple[object, float]]:
        """Recommend `n` anime for a user not in the training data from their
        ratings, as (anime_id, score); see `pyanimf.foldin.recommend_for`."""
        from pyanimf.foldin import recommend_for

        return recommend_for(self, ratings, n, unknown=unknown, exclude=exclude)

    def recommend_all(self, n: int = 10, *, batch_size: int = 2048):
        """Top-`n` unseen anime for every user: (user_ids, anime_ids, scores).

        `anime_ids` and `scores` have one row per user, best first. A user
        with fewer than `n` unseen anime gets padding: anime id -1 (or "" for
        string ids) and score NaN. Works through `iter_recommendations`, so
        only `batch_size` x n_anime scores are held at a time besides the
        result.
        """
        user_rows, anime_rows, score_rows = [], [], []
        for users, anime, scores in self.iter_recommendations(n, batch_size=batch_size):
            user_rows.append(users)
            anime_rows.append(anime)
            score_rows.append(scores)
        if not user_rows:
            return self.user_ids[:0], np.empty((0, n)), np.empty((0, n))
        return np.concatenate(user_rows), np.concatenate(anime_rows), np.concatenate(score_rows)

    def iter_recommendations(self, n: int = 10, *, batch_size: int = 2048):
        """Yield (user_ids, anime_ids, scores) for successive batches of users; see `recommend_all`."""
        from pyanimf.batch import iter_top_n

        self._check_fitted()
        _check_int("n", n, 1, 2**31 - 1)
        _check_int("batch_size", batch_size, 1, 2**31 - 1)
        padding = -1 if np.issubdtype(self._anime.ids.dtype, np.integer) else ""
        for rows, items, scores in iter_top_n(self, n, batch_size):
            anime = np.where(items >= 0, self._anime.ids[np.maximum(items, 0)], padding)
            yield self._users.ids[rows], anime, scores

    def similar_items(self, anime_id, n: int = 10) -> List[Tuple[object, float]]:
        """Return the `n` anime whose embeddings have the highest cosine similarity to
        `anime_id`'s, the query excluded, as (anime_id, similarity)."""
        self._check_fitted()
        return self._similar("items", self._anime, anime_id, n, "anime")

    def similar_users(self, user_id, n: int = 10) -> List[Tuple[object, float]]:
        """Return the `n` users whose embeddings have the highest cosine similarity to
        `user_id`'s, the query excluded, as (user_id, similarity)."""
        self._check_fitted()
        return self._similar("users", self._users, user_id, n, "user")

    def evaluate(self, data) -> Evaluation:
        """RMSE and MAE on the scored rows of `data` (a `Ratings`); see `Evaluation`."""
        self._check_fitted()
        scored = data.rated
        users = self._users.lookup(data.user_ids[scored])
        anime = self._anime.lookup(data.anime_ids[scored])
        known = (users >= 0) & (anime >= 0)
        rows = int(scored.sum())
        unknown = int(rows - known.sum())
        if not known.any():
            return Evaluation(rmse=None, mae=None, rows=rows, unknown=unknown)
        predicted = self._predict_codes(users[known], anime[known])
        errors = predicted - data.scores[scored][known].astype(np.float64)
        return Evaluation(
            rmse=float(np.sqrt(np.mean(errors * errors))),
            mae=float(np.mean(np.abs(errors))),
            rows=rows,
            unknown=unknown,
        )

    def rmse(self, data) -> Optional[float]:
        """Root mean squared error on the scored rows of `data` with known ids."""
        return self.evaluate(data).rmse

    def mae(self, data) -> Optional[float]:
        """Mean absolute error on the scored rows of `data` with known ids."""
        return self.evaluate(data).mae

    # ------------------------------------------------------------ arrays

    @property
    def user_factors(self) -> np.ndarray:
        """User embeddings P (users x dim), a view of the core's memory."""
        self._check_fitted()
        return self._arrays.user_factors

    @property
    def anime_factors(self) -> np.ndarray:
        """Anime embeddings Q (anime x dim), a view of the core's memory."""
        self._check_fitted()
        return self._arrays.item_factors

    @property
    def user_bias(self) -> np.ndarray:
        self._check_fitted()
        return self._arrays.user_bias

    @property
    def user_scales(self) -> np.ndarray:
        """Rating scale ``s_u`` of each user (all 1.0 with ``user_scale=False``), a view of the core's memory."""
        self._check_fitted()
        return self._arrays.user_scale

    @property
    def anime_bias(self) -> np.ndarray:
        self._check_fitted()
        return self._arrays.item_bias

    @property
    def user_ids(self) -> np.ndarray:
        """User ids in the order of the rows of `user_factors`."""
        self._check_fitted()
        return self._users.ids

    @property
    def anime_ids(self) -> np.ndarray:
        """Anime ids in the order of the rows of `anime_factors`."""
        self._check_fitted()
        return self._anime.ids

    @property
    def output_layer(self) -> Tuple[float, float]:
        """The dense output layer's (weight, bias) over the dot product."""
        self._check_fitted()
        return self._weight, self._bias

    # --------------------------------------------------------- persistence

    def save(self, path) -> None:
        """Write the model to `path` atomically; see `pyanimf.persistence` for the format."""
        from pyanimf.persistence import save_model

        self._check_fitted()
        save_model(self, path)

    @classmethod
    def load(cls, path) -> "Model":
        """Read a model written by `save`. Never executes code from the file."""
        from pyanimf.persistence import load_model

        return load_model(path)

    # ------------------------------------------------------------- helpers

    def _check_fitted(self) -> None:
        if self._arrays is None:
            raise RuntimeError("this Model is not trained yet: call fit() or Model.load() first")

    def _predict_codes(self, users: np.ndarray, anime: np.ndarray) -> np.ndarray:
        internal = _core.predict(
            self._arrays, self._settings(), self._weight, self._bias,
            np.ascontiguousarray(users, dtype=np.int32), np.ascontiguousarray(anime, dtype=np.int32),
            self.kernel, resolve_threads(self.threads),
        )
        return self._scale.to_ratings(internal)

    def _seen_items(self, user: int) -> np.ndarray:
        indptr, indices = self._seen
        return np.ascontiguousarray(indices[indptr[user]:indptr[user + 1]])

    def _similar(self, side, index: IdIndex, query_id, n, kind):
        _check_int("n", n, 0, 2**31 - 1)
        query = self._code(index, query_id, kind)
        rows, similarity = _core.most_similar(self._arrays, side, query, n, self.kernel)
        return [(_plain(i), float(s)) for i, s in zip(index.ids[rows], similarity)]

    @staticmethod
    def _code(index: IdIndex, value, kind: str) -> int:
        code = index.index_of(value)
        if code < 0:
            raise KeyError(f"unknown {kind} id {value!r}: it was not in the training data")
        return code

    @staticmethod
    def _codes(index: IdIndex, values, kind: str) -> np.ndarray:
        codes = index.lookup(np.asarray(values).reshape(-1))
        unknown = np.flatnonzero(codes < 0)
        if len(unknown):
            first = np.asarray(values).reshape(-1)[unknown[0]]
            raise KeyError(
                f"{len(unknown)} unknown {kind} ids, the first {_plain(first)!r} at position {unknown[0]}: "
                "they were not in the training data"
            )
        return codes


def _as_ratings(data: tuple, unrated: Optional[float]) -> Ratings:
    if len(data) == 1 and isinstance(data[0], Ratings):
        return data[0]
    if len(data) == 3:
        return Ratings.from_arrays(*data, unrated=unrated)
    kinds = ", ".join(type(d).__name__ for d in data)
    raise TypeError(
        f"fit: expected fit(ratings) or fit(user_ids, anime_ids, scores), got {len(data)} arguments ({kinds})"
    )


def _renumber(index: IdIndex, permutation: np.ndarray) -> IdIndex:
    """Apply `permutation` (new row of each old row) to an IdIndex."""
    ids = np.empty_like(index.ids)
    ids[permutation] = index.ids
    return IdIndex.from_ids(ids)


def _seen_sets(grid, extra: Tuple[np.ndarray, np.ndarray], threads: int):
    """Return CSR (indptr, anime rows) of every anime each user rated or listed, and the `extra` pairs.

    Takes the grid's ratings, so it comes after training. Anime within a
    user are in a fixed order that depends on the grid.
    """
    return grid.seen_sets(extra[0], extra[1], threads=threads)


def _plain(value):
    """Convert a numpy scalar to the matching Python int or str."""
    return value.item() if isinstance(value, np.generic) else value


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name}: expected an integer from {low} to {high}, got {value!r}")


def _check_bool(name: str, value) -> None:
    # bool("no") is True, so a string here would silently mean yes.
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name}: expected True or False, got {value!r}")


def _check_float(name: str, value, positive: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "a positive" if positive else "a non-negative"
        raise ValueError(f"{name}: expected {bound} finite number, got {value!r}")
