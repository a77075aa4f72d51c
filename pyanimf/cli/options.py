"""Command-line options shared by several subcommands."""

from __future__ import annotations

import argparse

from pyanimf.threads import MAX_THREADS


def add_ratings_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ratings", nargs="?", metavar="RATINGS",
                        help="ratings .csv or .csv.gz (user_id,anime_id,rating); default: the bundled MyAnimeList sample")


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """Add --dim, --lr and --reg, each taking one value."""
    parser.add_argument("--dim", type=int, default=128, help="embedding length (default: 128)")
    parser.add_argument("--lr", type=float, default=None,
                        help="SGD learning rate (default: 0.01, or 0.1 with --output-function sigmoid)")
    parser.add_argument("--reg", type=float, default=None,
                        help="L2 regularization of the embeddings (default: 0.05, or 0.001 with --output-function "
                             "sigmoid)")


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Add --epochs, --output-function, --no-biases, --no-user-scale, --implicit, --implicit-lr, --threads, --seed
    and --unrated."""
    parser.add_argument("--epochs", type=int, default=40, help="passes over the training ratings (default: 40)")
    parser.add_argument("--output-function", choices=("identity", "sigmoid"), default="identity",
                        help="output function over the dense layer; sigmoid trains on scores scaled to [0, 1] "
                             "(default: identity)")
    parser.add_argument("--no-biases", action="store_true",
                        help="leave out the global mean and the user and anime biases")
    parser.add_argument("--no-user-scale", action="store_true",
                        help="train without per-user rating scales, so every user gets scale 1 instead of one "
                             "estimated from the spread of their scores (the identity output uses them by "
                             "default, the sigmoid output never)")
    parser.add_argument("--implicit", choices=("auto", "on", "off"), default="auto",
                        help="describe each user also by the anime on their list, scored or not (an SVD++-style "
                             "term that uses the unrated rows; an epoch takes about three times as long); auto: on when "
                             "the training data has unrated rows (default: auto)")
    parser.add_argument("--implicit-lr", type=float, default=None, metavar="STEP",
                        help="step size of the implicit term's anime rows, taken once per epoch (default: 0.02, "
                             "or 0.2 with --output-function sigmoid)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for loading and training (default: OMP_NUM_THREADS, else the CPUs this "
                             "process may use; training uses at most one per 100,000 scores)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the validation split and of the model (default: 0)")
    parser.add_argument("--unrated", default="-1", metavar="SCORE",
                        help="score that marks 'on the list, not rated', or 'none' (default: -1)")


def user_scale_setting(args: argparse.Namespace):
    """Return the Model's user_scale for --no-user-scale: False, or None for the output function's default."""
    return False if args.no_user_scale else None


def implicit_settings(args: argparse.Namespace) -> dict:
    """Return the Model settings of --implicit (auto is None) and --implicit-lr."""
    settings = {"implicit": {"auto": None, "on": True, "off": False}[args.implicit]}
    if args.implicit_lr is not None:
        settings["implicit_learning_rate"] = args.implicit_lr
    return settings


def check_thread_option(threads) -> None:
    """Raise ValueError naming --threads when it is outside 1 to MAX_THREADS (None means automatic)."""
    if threads is not None and not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"--threads: expected an integer from 1 to {MAX_THREADS}, got {threads}")
