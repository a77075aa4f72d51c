"""Argument parsing and dispatch of the ``pyanimf`` command."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from pyanimf import __version__
from pyanimf.cli import commands, experiments, options
from pyanimf.errors import ModelFileError, RatingsFormatError, TrainingDivergedError
from pyanimf.plotting import MissingDependencyError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyanimf",
        description="Train matrix-factorization models on anime (or any user-item) ratings and recommend from them.",
        allow_abbrev=False,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    parser.add_argument("--version", action="version", version=f"pyanimf {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser("fit", help="train a model on a ratings file", allow_abbrev=False)
    options.add_ratings_argument(fit)
    options.add_model_options(fit)
    options.add_training_options(fit)
    fit.add_argument("--no-early-stopping", action="store_true",
                     help="train all epochs and keep the last, instead of the best by validation RMSE")
    fit.add_argument("--patience", type=int, default=5,
                     help="epochs without validation improvement before stopping early (default: 5)")
    fit.add_argument("--validation", type=float, default=0.1, metavar="FRACTION",
                     help="fraction of scored rows held out for validation; 0 trains on all (default: 0.1)")
    fit.add_argument("-o", "--output", default=None, metavar="MODEL",
                     help="where to save the model (default: model.npz). When Ctrl-C stops training, the "
                          "kept epoch (the best so far by validation RMSE, or the last completed one with "
                          "--no-early-stopping or --validation 0) is saved only if -o is given")
    fit.add_argument("-q", "--quiet", action="store_true", help="no progress bar and no per-epoch lines")
    fit.add_argument("--plot", metavar="PATH", default=None,
                     help="also draw training and validation RMSE per epoch to this image file, such as "
                          "curve.png (needs matplotlib: pip install 'pyanimf[plot]')")
    fit.set_defaults(handler=commands.fit)

    recommend = sub.add_parser("recommend", help="recommend anime for a user of a model", allow_abbrev=False)
    recommend.add_argument("model", metavar="MODEL", help="model file written by 'pyanimf fit'")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", metavar="ID", help="user id as in the ratings file")
    who.add_argument("--all", action="store_true", help="every user of the model, written as CSV to -o FILE")
    who.add_argument("--ratings", metavar="ANIME:SCORE,...",
                     help="scores of a user who is not in the model, such as 5114:10,9253:9; the user's "
                          "embedding is fitted from them (fold-in) and the rated anime are not recommended")
    recommend.add_argument("-n", type=int, default=10, help="how many anime per user (default: 10)")
    recommend.add_argument("--ignore-unknown", action="store_true",
                           help="with --ratings: leave out anime that are not in the model, with a warning, "
                                "instead of stopping with an error")
    recommend.add_argument("-o", "--output", metavar="FILE",
                           help="with --all: CSV file to write (user_id,rank,anime_id,score)")
    recommend.add_argument("--batch-size", type=int, default=None,
                           help="with --all: users scored at a time; memory is about batch size x anime x 4 bytes "
                                "(default: 2048)")
    _add_anime_info(recommend)
    recommend.set_defaults(handler=commands.recommend)

    similar = sub.add_parser("similar", help="anime with the most similar embeddings", allow_abbrev=False)
    similar.add_argument("model", metavar="MODEL", help="model file written by 'pyanimf fit'")
    similar.add_argument("--anime", required=True, metavar="ID", help="anime id as in the ratings file")
    similar.add_argument("-n", type=int, default=10, help="how many anime (default: 10)")
    _add_anime_info(similar)
    similar.set_defaults(handler=commands.similar)

    evaluate = sub.add_parser("evaluate", help="RMSE and MAE of a model on a ratings file", allow_abbrev=False)
    evaluate.add_argument("model", metavar="MODEL", help="model file written by 'pyanimf fit'")
    evaluate.add_argument("ratings", metavar="RATINGS", help="ratings .csv or .csv.gz")
    evaluate.add_argument("--unrated", default="-1", metavar="SCORE",
                          help="score that marks 'on the list, not rated', or 'none' (default: -1)")
    evaluate.add_argument("--k", type=int, default=10,
                          help="length of the top-k lists for precision, recall, NDCG and MAP (default: 10)")
    evaluate.add_argument("--threshold", type=float, default=8.0,
                          help="a row of RATINGS is relevant when its score is at least this (default: 8)")
    evaluate.set_defaults(handler=commands.evaluate)
    experiments.add_subcommands(sub)
    return parser


def _add_anime_info(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--anime-info", metavar="PATH", default=None,
                        help="anime.csv with anime_id,name columns for titles (default: the bundled one)")


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="pyanimf: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        print("pyanimf: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of standard output closed it early, as `| head` does;
        # that is not an error. Point stdout at /dev/null so the interpreter's
        # final flush does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    # OSError covers a missing file, a directory given as a file, a denied
    # permission and a full disk; its message names the path.
    except (RatingsFormatError, ModelFileError, TrainingDivergedError, OSError,
            KeyError, ValueError, MissingDependencyError) as error:
        print(f"pyanimf: error: {_describe(error)}", file=sys.stderr)
        return 1


def _describe(error: BaseException) -> str:
    """Return the message of `error` for the command line."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, OSError) and error.filename is not None and error.strerror:
        # "[Errno 21] Is a directory: 'x'" reads better as "x: is a directory".
        return f"{error.filename}: {error.strerror[0].lower()}{error.strerror[1:]}"
    return str(error)


if __name__ == "__main__":
    sys.exit(main())
