"""One function per ``pyanimf`` subcommand; each returns the exit code."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import warnings
from typing import Optional

import numpy as np

from pyanimf import build_info
from pyanimf.cli.options import check_thread_option, implicit_settings, user_scale_setting
from pyanimf.datasets import bundled_ratings_path, load_anime_names
from pyanimf.errors import TrainingDivergedError
from pyanimf.files import atomic_text_file, check_output_path
from pyanimf.model import Model
from pyanimf.plotting import plot_history, require_matplotlib
from pyanimf.ratings import load_ratings
from pyanimf.training import EpochRecord, TrainingInterrupted

# Model path of `pyanimf fit` when -o is not given and training ends normally.
DEFAULT_MODEL_PATH = "model.npz"
# The shell's code for a process stopped by SIGINT (128 + 2).
INTERRUPTED_EXIT_CODE = 130


def fit(args: argparse.Namespace) -> int:
    if not 0 <= args.validation < 1:
        raise ValueError(f"--validation: expected a fraction in [0, 1), got {args.validation}")
    if args.plot is not None:
        require_matplotlib()  # fail before training, not after
    check_thread_option(args.threads)
    # Fail before training, not after it, on an output path that cannot be written.
    check_output_path(args.output if args.output is not None else DEFAULT_MODEL_PATH)
    with _options_named():
        model = Model(
            args.dim, epochs=args.epochs, learning_rate=args.lr, regularization=args.reg,
            output=args.output_function, biases=not args.no_biases, threads=args.threads, seed=args.seed,
            early_stopping=not args.no_early_stopping, patience=args.patience,
            user_scale=user_scale_setting(args), **implicit_settings(args),
        )
    started = time.perf_counter()
    path = args.ratings if args.ratings is not None else bundled_ratings_path()
    ratings = load_ratings(path, unrated=_parse_unrated(args.unrated), threads=args.threads)
    loaded = time.perf_counter()
    print(f"ratings: {path}: {len(ratings):,} rows, {ratings.n_rated:,} scored "
          f"({len(ratings) - ratings.n_rated:,} unrated), loaded in {loaded - started:.2f} s")
    callback = None if args.quiet else _print_epoch(args.epochs)
    try:
        # The command reads neither the ids nor the scores of `ratings`
        # after fit, so fit may write its codes over the ids and release
        # the memory of both.
        model._fit(
            ratings, args.validation if args.validation > 0 else None,
            progress=False if args.quiet else None, callback=callback, owns_ratings=True,
        )
    except TrainingInterrupted as interrupted:
        return _save_after_interrupt(model, interrupted, args.output)
    except TrainingDivergedError as error:
        raise TrainingDivergedError(
            f"{error} (--lr, --reg and --implicit-lr on the command line); no model was saved"
        ) from None
    trained = time.perf_counter()
    output = args.output if args.output is not None else DEFAULT_MODEL_PATH
    model.save(output)
    _print_summary(model, trained - loaded, time.perf_counter() - started, output)
    if args.plot is not None:
        kept = model.best_epoch_ if model.best_epoch_ != len(model.history_) else None
        plot_history(model.history_, args.plot, best_epoch=kept)
        print(f"learning curve saved to {args.plot}")
    return 0


# Model's parameter names and the fit options that set them.
_OPTION_OF_SETTING = {
    "dim": "--dim", "epochs": "--epochs", "learning_rate": "--lr", "regularization": "--reg",
    "threads": "--threads", "seed": "--seed", "patience": "--patience",
    "implicit_learning_rate": "--implicit-lr",
}


@contextlib.contextmanager
def _options_named():
    """Re-raise Model's "name: ..." ValueErrors under the option the user typed."""
    try:
        yield
    except ValueError as error:
        setting, _, rest = str(error).partition(":")
        if setting in _OPTION_OF_SETTING and rest:
            raise ValueError(f"{_OPTION_OF_SETTING[setting]}:{rest}") from None
        raise


def _save_after_interrupt(model: Model, interrupted: TrainingInterrupted, output: Optional[str]) -> int:
    """Save the kept epoch after Ctrl-C only when -o was given; returns the exit code of an interrupt."""
    stopped = f"pyanimf: interrupted after epoch {interrupted.completed_epochs} of {interrupted.total_epochs}"
    if output is None:
        print(f"{stopped}; no model saved, because -o was not given (with -o MODEL the model of the "
              f"kept epoch, here {interrupted.kept_epoch}, is saved when training is interrupted)", file=sys.stderr)
        return INTERRUPTED_EXIT_CODE
    model.save(output)
    print(f"{stopped}; saved the model of epoch {interrupted.kept_epoch} to {output}", file=sys.stderr)
    return INTERRUPTED_EXIT_CODE


def recommend(args: argparse.Namespace) -> int:
    if args.all:
        return _recommend_all(args)
    if args.output is not None:
        raise ValueError("-o/--output: only used with --all; without it recommendations go to standard output")
    if args.batch_size is not None:
        raise ValueError("--batch-size: only used with --all, which scores users in batches")
    model = Model.load(args.model)
    if args.ratings is not None:
        pairs = _parse_rating_pairs(args.ratings, model.anime_ids)
        recommendations = _recommend_for(model, pairs, _check_n(args.n), args.ignore_unknown)
    else:
        if args.ignore_unknown:
            raise ValueError("--ignore-unknown: only used with --ratings")
        user = _parse_id(args.user, model.user_ids, "--user")
        recommendations = model.recommend(user, n=_check_n(args.n))
    names = load_anime_names(args.anime_info)
    for anime_id, score in recommendations:
        print(f"{anime_id}\t{names.get(anime_id, '(unknown title)')}\t{score:.3f}")
    return 0


def _recommend_all(args: argparse.Namespace) -> int:
    if args.output is None:
        raise ValueError("--all: expected -o FILE for the recommendations of every user")
    batch_size = 2048 if args.batch_size is None else args.batch_size
    if not 1 <= batch_size <= 2**31 - 1:
        raise ValueError(f"--batch-size: expected an integer from 1 to 2147483647, got {batch_size}")
    model = Model.load(args.model)
    n = _check_n(args.n)
    started = time.perf_counter()
    rows = 0
    with atomic_text_file(args.output) as stream:
        stream.write("user_id,rank,anime_id,score\n")
        for users, anime, scores in model.iter_recommendations(n, batch_size=batch_size):
            rows += _write_batch(stream, users, anime, scores)
    print(f"wrote {rows:,} recommendations for {len(model.user_ids):,} users to {args.output} "
          f"in {time.perf_counter() - started:.2f} s")
    return 0


def _write_batch(stream, users, anime, scores) -> int:
    ranks = np.broadcast_to(np.arange(1, anime.shape[1] + 1), anime.shape)
    user_column = np.broadcast_to(users[:, None], anime.shape)
    filled = ~np.isnan(scores)
    lines = [
        f"{user},{rank},{item},{score:.4f}\n"
        for user, rank, item, score in zip(
            user_column[filled].tolist(), ranks[filled].tolist(), anime[filled].tolist(), scores[filled].tolist()
        )
    ]
    stream.writelines(lines)
    return len(lines)


def similar(args: argparse.Namespace) -> int:
    model = Model.load(args.model)
    anime = _parse_id(args.anime, model.anime_ids, "--anime")
    neighbours = model.similar_items(anime, n=_check_n(args.n))
    names = load_anime_names(args.anime_info)
    print(f"# anime similar to {anime}: {names.get(anime, '(unknown title)')}")
    for anime_id, similarity in neighbours:
        print(f"{anime_id}\t{names.get(anime_id, '(unknown title)')}\t{similarity:.3f}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    if args.k < 1:
        raise ValueError(f"--k: expected a positive integer, got {args.k}")
    if not np.isfinite(args.threshold):
        raise ValueError(f"--threshold: expected a finite number, got {args.threshold}")
    model = Model.load(args.model)
    ratings = load_ratings(args.ratings, unrated=_parse_unrated(args.unrated))
    result = model.evaluate(ratings)
    print(f"scored rows: {result.rows:,}")
    print(f"rows with unknown ids (left out): {result.unknown:,}")
    if result.rmse is None:
        print("RMSE: n/a (no row with known user and anime)")
        print("MAE: n/a")
        return 1
    print(f"RMSE: {result.rmse:.4f}")
    print(f"MAE: {result.mae:.4f}")
    fitted = _rows_fitted_on(model, ratings)
    if fitted:
        print(f"note: {fitted:,} of the scored rows were in the data the model was fitted on (its training "
              "and validation rows), so RMSE and MAE on them are not held-out errors; evaluate on rows the "
              "model has not seen, such as a split kept aside before fitting")
    _print_ranking(model, ratings, args.k, args.threshold)
    return 0


def _rows_fitted_on(model: Model, ratings) -> int:
    """Count the scored rows of `ratings` whose (user, anime) pair is in the model's seen sets."""
    scored = ratings.rated
    users = model._users.lookup(ratings.user_ids[scored]).astype(np.int64)
    anime = model._anime.lookup(ratings.anime_ids[scored]).astype(np.int64)
    known = (users >= 0) & (anime >= 0)
    indptr, seen = model._seen
    n_anime = len(model.anime_ids)
    seen_users = np.repeat(np.arange(len(indptr) - 1, dtype=np.int64), np.diff(indptr))
    seen_keys = seen_users * n_anime + seen.astype(np.int64)
    return int(np.isin(users[known] * n_anime + anime[known], seen_keys).sum())


def _print_ranking(model: Model, ratings, k: int, threshold: float) -> None:
    from pyanimf.ranking import ranking_metrics

    # The training rows are not in the model file, so the model's seen sets
    # stand in for them. Rows of RATINGS that were in the model's training or
    # validation data therefore count as training items, neither candidates
    # nor relevant.
    metrics = ranking_metrics(model, None, ratings, k=k, threshold=threshold)
    print(f"ranking: {metrics.users:,} users with a row scored >= {threshold:g} "
          f"({metrics.users_without_relevant:,} without one, {metrics.unknown_users:,} unknown; "
          f"{metrics.rows_in_train:,} rows were in the data the model was fitted on and left out)")
    if metrics.users == 0:
        print(f"precision@{k}, recall@{k}, NDCG@{k}, MAP@{k}, coverage: n/a (no user to evaluate)")
        return
    print(f"precision@{k}: {metrics.precision:.4f}")
    print(f"recall@{k}: {metrics.recall:.4f}")
    print(f"NDCG@{k}: {metrics.ndcg:.4f}")
    print(f"MAP@{k}: {metrics.map:.4f}")
    print(f"coverage@{k}: {metrics.coverage:.4f} of {len(model.anime_ids):,} anime")


def _print_epoch(epochs: int):
    from tqdm.auto import tqdm

    def report(record: EpochRecord) -> None:
        validation = "-" if record.validation_rmse is None else f"{record.validation_rmse:.4f}"
        tqdm.write(
            f"epoch {record.epoch:>3}/{epochs}  train RMSE {record.train_rmse:.4f}  "
            f"validation RMSE {validation}  {record.seconds:.3f} s",
            file=sys.stdout,
        )

    return report


def _print_summary(model: Model, train_seconds: float, total_seconds: float, output: str) -> None:
    report = model.fit_report_
    last = model.history_[-1] if model.history_ else None
    print(f"trained: dim {model.dim}, {len(model.history_)} epochs, {report.train_ratings:,} scores, "
          f"{len(model.user_ids):,} users, {len(model.anime_ids):,} anime, "
          f"{report.threads} threads, kernel {report.kernel}, OpenMP {'on' if build_info()['openmp'] else 'off'}, "
          f"{train_seconds:.2f} s")
    implicit = "on" if report.implicit else "off"
    print(f"implicit term: {implicit} ({report.unrated_rows:,} unrated rows in training; --implicit sets it)")
    if last is not None and last.validation_rmse is not None:
        kept = model.history_[model.best_epoch_ - 1]
        if model.early_stopping:
            print(f"kept the model of epoch {model.best_epoch_} of {len(model.history_)}, "
                  "the best by validation RMSE")
        print(f"validation RMSE: {kept.validation_rmse:.4f} on {report.validation_ratings:,} held-out scores "
              f"({report.validation_dropped:,} dropped: user or anime without a training score)")
    elif last is not None:
        print(f"train RMSE: {last.train_rmse:.4f} (no validation split)")
    print(f"model saved to {output} ({total_seconds:.2f} s in all)")


def _parse_unrated(text: str) -> Optional[float]:
    if text.strip().lower() == "none":
        return None
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--unrated: expected a number or 'none', got {text!r}") from None


def _parse_id(text: str, known_ids: np.ndarray, option: str):
    """Convert a command-line id to the type of the model's ids."""
    if np.issubdtype(known_ids.dtype, np.integer):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{option}: expected an integer id, got {text!r}") from None
    return text


def _recommend_for(model: Model, pairs: list, n: int, ignore_unknown: bool) -> list:
    """Run `Model.recommend_for`, turning its unknown-anime error and warning into command-line wording."""
    from pyanimf.foldin import UnknownAnimeError, UnknownAnimeWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnknownAnimeWarning)
        try:
            recommendations = model.recommend_for(pairs, n=n, unknown="ignore" if ignore_unknown else "raise")
        except UnknownAnimeError as error:
            listed = ",".join(str(anime) for anime in error.anime_ids)
            raise KeyError(
                f"--ratings: anime ids not in the model: {listed}; remove them, or pass --ignore-unknown "
                "to leave them out"
            ) from None
    for warning in caught:
        print(f"pyanimf: warning: {warning.message}", file=sys.stderr)
    return recommendations


def _parse_rating_pairs(text: str, anime_ids: np.ndarray) -> list:
    """Parse --ratings "ANIME:SCORE,ANIME:SCORE" into (anime id, score) pairs."""
    items = text.split(",")
    pairs = []
    for position, item in enumerate(items, start=1):
        anime, separator, score = item.strip().rpartition(":")
        where = f"--ratings: invalid item {item!r} (item {position} of {len(items)})"
        if not separator or not anime or not score:
            raise ValueError(f"{where}; expected ANIME:SCORE items separated by commas, such as 5114:10,9253:9")
        try:
            value = float(score)
        except ValueError:
            raise ValueError(f"{where}; the score {score!r} is not a number, expected ANIME:SCORE such as 5114:10") from None
        pairs.append((_parse_id(anime, anime_ids, f"{where}; the anime id"), value))
    return pairs


def _check_n(n: int) -> int:
    if n < 1:
        raise ValueError(f"-n: expected a positive integer, got {n}")
    return n
