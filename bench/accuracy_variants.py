"""Held-out RMSE of pyanimf variants on one seeded split of a ratings file.

Each variant changes one thing against the default model and reports the
validation RMSE of its best epoch, so the table shows what each idea is
worth. The library has no setting for two of them (a decaying step size,
averaged weights). This script writes those as loops around the core's
epoch, which reach into `Model` internals, so they are measurements and
not features.

    python bench/accuracy_variants.py                      # bundled sample, seed 0
    python bench/accuracy_variants.py --seed 42 --only default,ensemble
"""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import contextmanager
from typing import Callable

import numpy as np

import pyanimf.model as model_module
from pyanimf import Model, _core, load_ratings
from pyanimf.datasets import bundled_ratings_path

EPOCHS = 80


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ratings", nargs="?", default=str(bundled_ratings_path()), help="ratings file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the 10%% split and of the models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", default="", help="comma-separated variant names to run")
    return parser.parse_args(argv)


# ---------------------------------------------------------------- epoch hooks


class EpochLoop:
    """Stand-in for the library's epoch loop during one fit, calling `hook` after each epoch."""

    def __init__(self, epochs: int, hook: Callable | None = None, score: Callable | None = None):
        self.epochs = epochs
        self.hook = hook
        self.score = score
        self.best = (float("inf"), 0)

    def run(self, arrays, run, weight, bias):
        learning_rate = run.settings.learning_rate
        for epoch in range(self.epochs):
            if run.implicit_lists is not None and epoch > 0:
                _core.implicit_epoch_end(run.implicit_lists, arrays, run.implicit_learning_rate, run.threads)
            result = _core.run_epoch(
                run.grid, arrays, run.settings, weight, bias, threads=run.threads, seed=run.seed, epoch=epoch
            )
            weight, bias = result["weight"], result["bias"]
            if self.hook is not None:
                self.hook(epoch, arrays, run, learning_rate)
            if self.score is None:
                rmse = validation_rmse(arrays, run, weight, bias)
            else:
                rmse = self.score(epoch, arrays, run, weight, bias)
            if rmse < self.best[0]:
                self.best = (rmse, epoch + 1)
        return weight, bias, [], self.epochs


def validation_rmse(arrays, run, weight, bias) -> float:
    held_out = run.validation
    internal = _core.predict(arrays, run.settings, weight, bias, held_out.users, held_out.items, "auto", run.threads)
    errors = run.scale.to_ratings(internal) - held_out.scores
    return float(np.sqrt(np.mean(errors * errors)))


@contextmanager
def epoch_loop(loop: EpochLoop):
    original = model_module.run_epochs
    model_module.run_epochs = loop.run
    try:
        yield loop
    finally:
        model_module.run_epochs = original


def fit_with_loop(train, validation, args, loop: EpochLoop, **settings) -> tuple[float, int]:
    model = Model(epochs=1, seed=args.seed, threads=args.threads, **settings)
    loop.model = model
    with epoch_loop(loop):
        model.fit(train, validation=validation)
    return loop.best


# ------------------------------------------------------------------- variants


def best_of_history(model: Model) -> tuple[float, int]:
    return model.history_[model.best_epoch_ - 1].validation_rmse, model.best_epoch_


def default_settings(train, validation, args):
    model = Model(seed=args.seed, threads=args.threads).fit(train, validation=validation)
    return best_of_history(model)


def without_user_scale(train, validation, args):
    model = Model(seed=args.seed, threads=args.threads, user_scale=False).fit(train, validation=validation)
    return best_of_history(model)


def without_implicit_term(train, validation, args):
    model = Model(seed=args.seed, threads=args.threads, implicit=False).fit(train, validation=validation)
    return best_of_history(model)


def without_implicit_term_or_user_scale(train, validation, args):
    model = Model(seed=args.seed, threads=args.threads, implicit=False, user_scale=False)
    model.fit(train, validation=validation)
    return best_of_history(model)


def default_early_stopping(train, validation, args):
    model = Model(epochs=500, seed=args.seed, threads=args.threads).fit(train, validation=validation)
    return best_of_history(model)


def decaying_step(train, validation, args, start=0.02, decay=0.97):
    def hook(epoch, arrays, run, learning_rate):
        run.settings.learning_rate = learning_rate * decay ** (epoch + 1)

    return fit_with_loop(train, validation, args, EpochLoop(EPOCHS, hook), learning_rate=start)


def averaged_weights(train, validation, args, first=45):
    """Average the model of every epoch from `first` on and score the average."""
    state = {"sum": None, "count": 0, "dense": np.zeros(2)}

    def score(epoch, arrays, run, weight, bias):
        current = validation_rmse(arrays, run, weight, bias)
        if epoch + 1 < first:
            return current
        views = (arrays.user_factors, arrays.item_factors, arrays.user_bias, arrays.item_bias)
        copies = [np.array(view) for view in views]
        state["sum"] = copies if state["sum"] is None else [s + c for s, c in zip(state["sum"], copies)]
        state["count"] += 1
        state["dense"] += (weight, bias)
        for view, total in zip(views, state["sum"]):
            view[...] = total / state["count"]
        averaged = validation_rmse(arrays, run, *(state["dense"] / state["count"]))
        for view, copy in zip(views, copies):
            view[...] = copy
        return min(current, averaged)

    return fit_with_loop(train, validation, args, EpochLoop(EPOCHS, score=score))


def unrated_as_score(train, validation, args, value=7.5):
    scores = train.scores.copy()
    scores[np.isnan(scores)] = value
    model = Model(epochs=500, seed=args.seed, threads=args.threads)
    model.fit(train.user_ids, train.anime_ids, scores, validation=validation, unrated=None)
    return best_of_history(model)


def sigmoid_output(train, validation, args):
    model = Model(epochs=500, output="sigmoid", seed=args.seed, threads=args.threads)
    model.fit(train, validation=validation)
    return best_of_history(model)


def ensemble_of_4(train, validation, args):
    """Score the mean prediction of 4 default models with other seeds, each at its best epoch."""
    models = [
        Model(epochs=500, seed=args.seed + k, threads=args.threads).fit(train, validation=validation)
        for k in range(4)
    ]
    scored = validation.rated
    known = np.ones(len(validation), dtype=bool)
    for model in models:
        known &= model._users.lookup(validation.user_ids) >= 0
        known &= model._anime.lookup(validation.anime_ids) >= 0
    rows = scored & known
    mean = np.mean([m.predict(validation.user_ids[rows], validation.anime_ids[rows]) for m in models], axis=0)
    errors = mean - validation.scores[rows]
    return float(np.sqrt(np.mean(errors * errors))), "-"


VARIANTS = {
    "default": ("default settings (40 epochs)", default_settings),
    "no-user-scale": ("default settings without user scales", without_user_scale),
    "no-implicit": ("default settings without the implicit term", without_implicit_term),
    "no-implicit-no-user-scale": ("default settings without the implicit term and user scales",
                                  without_implicit_term_or_user_scale),
    "early-stopping": ("default settings, up to 500 epochs with early stopping", default_early_stopping),
    "decay": ("step 0.02 times 0.97 per epoch", decaying_step),
    "average": ("mean of the weights of epochs 45 to 80", averaged_weights),
    "unrated-7.5": ("`-1` rows trained as the score 7.5", unrated_as_score),
    "sigmoid": ("sigmoid output, its default step and penalty", sigmoid_output),
    "ensemble": ("mean of 4 default models with other seeds", ensemble_of_4),
}


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    chosen = [name for name in args.only.split(",") if name] or list(VARIANTS)
    unknown = [name for name in chosen if name not in VARIANTS]
    if unknown:
        print(f"--only: unknown variant {unknown[0]!r}; choose from {', '.join(VARIANTS)}", file=sys.stderr)
        return 2
    train, validation = load_ratings(args.ratings).split(0.1, seed=args.seed)
    print(f"{args.ratings}, 10% split with seed {args.seed}, d = 128, {args.threads} threads\n")
    print("| variant | best validation RMSE | at epoch | seconds |")
    print("|---|---:|---:|---:|")
    for name in chosen:
        label, run = VARIANTS[name]
        started = time.perf_counter()
        rmse, epoch = run(train, validation, args)
        print(f"| {label} | {rmse:.4f} | {epoch} | {time.perf_counter() - started:.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
