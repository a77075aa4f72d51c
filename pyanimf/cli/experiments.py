"""The ``cv`` and ``tune`` subcommands: cross-validation and search of model settings."""

from __future__ import annotations

import argparse
from typing import Callable, List

from pyanimf.cli import options
from pyanimf.datasets import bundled_ratings_path
from pyanimf.ratings import load_ratings

# Command-line option, Model setting and value type of the settings `tune` can search.
TUNABLE = (("dim", "dim", int), ("reg", "regularization", float), ("lr", "learning_rate", float))


def add_subcommands(sub) -> None:
    """Add the ``cv`` and ``tune`` subcommands to the subparsers `sub`."""
    cv = sub.add_parser("cv", help="K-fold cross-validated RMSE of one model setting", allow_abbrev=False)
    options.add_ratings_argument(cv)
    cv.add_argument("--folds", type=int, default=5, help="number of folds, at least 2 (default: 5)")
    options.add_model_options(cv)
    options.add_training_options(cv)
    cv.set_defaults(handler=cross_validate)

    tune = sub.add_parser("tune", help="grid or random search of dim, reg and lr by validation RMSE",
                          allow_abbrev=False)
    options.add_ratings_argument(tune)
    tune.add_argument("--dim", default="128", metavar="LIST",
                      help="comma-separated embedding lengths to try (default: 128)")
    tune.add_argument("--reg", default=None, metavar="LIST",
                      help="comma-separated L2 regularizations to try (default: the output function's default)")
    tune.add_argument("--lr", default=None, metavar="LIST",
                      help="comma-separated SGD learning rates to try (default: the output function's default)")
    tune.add_argument("--trials", type=int, default=None,
                      help="try this many random combinations instead of all of them (default: all)")
    tune.add_argument("--validation", type=float, default=0.1, metavar="FRACTION",
                      help="fraction of scored rows held out to score each trial (default: 0.1)")
    tune.add_argument("--no-early-stopping", action="store_true",
                      help="score each trial by its last epoch, instead of the best by validation RMSE")
    options.add_training_options(tune)
    tune.set_defaults(handler=tune_settings)


def cross_validate(args: argparse.Namespace) -> int:
    from pyanimf.search import cross_validate

    if args.folds < 2:
        raise ValueError(f"--folds: expected an integer of at least 2, got {args.folds}")
    settings = dict(dim=args.dim, learning_rate=args.lr, regularization=args.reg, **_shared_settings(args))
    _check_settings(settings)
    ratings = _load(args)
    print(f"{args.folds}-fold cross-validation, dim {args.dim}, {args.epochs} epochs")
    result = cross_validate(ratings, folds=args.folds, seed=args.seed, callback=_print_fold, **settings)
    print(f"RMSE: {result.mean:.4f} ± {result.sd:.4f} (mean ± sample sd over {len(result.folds)} folds)")
    return 0


def tune_settings(args: argparse.Namespace) -> int:
    from pyanimf.search import tune

    grid = {}
    for option, setting, kind in TUNABLE:
        text = getattr(args, option)
        if text is not None:
            grid[setting] = _parse_list(text, kind, f"--{option}")
    _check_settings(_shared_settings(args))
    ratings = _load(args)
    result = tune(
        ratings, grid, validation=args.validation, seed=args.seed, max_trials=args.trials,
        callback=_print_trial, early_stopping=not args.no_early_stopping, **_shared_settings(args),
    )
    best = result.best
    print(f"best: {_describe(best.settings)}: validation RMSE {best.rmse:.4f} at epoch {best.best_epoch}")
    return 0


def _shared_settings(args: argparse.Namespace) -> dict:
    return {
        "epochs": args.epochs, "output": args.output_function, "biases": not args.no_biases,
        "threads": args.threads, "user_scale": options.user_scale_setting(args),
        **options.implicit_settings(args),
    }


def _check_settings(settings: dict) -> None:
    """Raise ValueError naming the option of an invalid setting, before any data is read."""
    from pyanimf import Model
    from pyanimf.cli.commands import _options_named

    options.check_thread_option(settings.get("threads"))
    with _options_named():
        Model(**settings)


def _load(args: argparse.Namespace):
    from pyanimf.cli.commands import _parse_unrated

    options.check_thread_option(args.threads)
    path = args.ratings if args.ratings is not None else bundled_ratings_path()
    ratings = load_ratings(path, unrated=_parse_unrated(args.unrated), threads=args.threads)
    print(f"ratings: {path}: {len(ratings):,} rows, {ratings.n_rated:,} scored")
    return ratings


def _parse_list(text: str, kind: Callable, option: str) -> List:
    values = []
    for item in text.split(","):
        try:
            values.append(kind(item.strip()))
        except ValueError:
            expected = "integers" if kind is int else "numbers"
            raise ValueError(f"{option}: invalid value {item!r} in {text!r}; expected comma-separated {expected}") from None
    return values


def _describe(settings: dict) -> str:
    return ", ".join(f"{name}={value:g}" for name, value in settings.items()) or "default settings"


def _print_fold(fold) -> None:
    print(f"fold {fold.fold}: RMSE {fold.rmse:.4f} on {fold.rows:,} rows ({fold.dropped:,} dropped: "
          "user or anime without a training score)", flush=True)


def _print_trial(trial) -> None:
    if trial.error is not None:
        print(f"trial {_describe(trial.settings)}: diverged ({trial.error})", flush=True)
        return
    print(f"trial {_describe(trial.settings)}: validation RMSE {trial.rmse:.4f} at epoch {trial.best_epoch}",
          flush=True)
