"""The epoch loop: runs the core's SGD epochs, tracks RMSE, reports progress."""

from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from pyanimf import _core
from pyanimf.errors import TrainingDivergedError
from pyanimf.scaling import ScoreScale

logger = logging.getLogger("pyanimf")


@dataclass(frozen=True)
class EpochRecord:
    """Statistics of one training epoch; RMSEs are on the original rating scale."""

    epoch: int
    train_rmse: float
    validation_rmse: Optional[float]
    seconds: float
    idle_fraction: float


@dataclass(frozen=True)
class ValidationSet:
    """Held-out ratings as compact indices, with scores on the original scale."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    dropped: int


@dataclass
class TrainingRun:
    """Everything one call of `run_epochs` needs besides the model arrays."""

    grid: "_core.BlockGrid"
    settings: "_core.SgdSettings"
    scale: ScoreScale
    epochs: int
    threads: int
    seed: int
    kernel: str = "auto"
    validation: Optional[ValidationSet] = None
    progress: Optional[bool] = None
    callback: Optional[Callable[[EpochRecord], None]] = None


def validation_rmse(arrays, run: TrainingRun, weight: float, bias: float) -> Optional[float]:
    """RMSE on the validation set on the rating scale, or None when there is none."""
    held_out = run.validation
    if held_out is None or len(held_out.scores) == 0:
        return None
    internal = _core.predict(
        arrays, run.settings, weight, bias, held_out.users, held_out.items, run.kernel, run.threads
    )
    errors = run.scale.to_ratings(internal) - held_out.scores
    return float(np.sqrt(np.mean(errors * errors)))


def run_epochs(arrays, run: TrainingRun, weight: float, bias: float):
    """Train `arrays` in place for `run.epochs` epochs.

    Returns the output layer's final (weight, bias) and the list of
    EpochRecord. Raises TrainingDivergedError, naming the setting to lower,
    in the epoch where a NaN or infinity first appears.
    """
    history = []
    show_bar = run.progress if run.progress is not None else sys.stderr.isatty()
    bar = _progress_bar(run.epochs, show_bar)
    try:
        for epoch in range(run.epochs):
            started = time.perf_counter()
            result = _core.run_epoch(
                run.grid, arrays, run.settings, weight, bias,
                kernel=run.kernel, threads=run.threads, seed=run.seed, epoch=epoch,
            )
            if not result["finite"]:
                raise TrainingDivergedError(
                    f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite; "
                    f"lower learning_rate (now {run.settings.learning_rate:g}) or raise "
                    f"regularization (now {run.settings.regularization:g})"
                )
            weight, bias = result["weight"], result["bias"]
            record = _epoch_record(arrays, run, result, epoch, weight, bias, started)
            history.append(record)
            _report(record, bar)
            if run.callback is not None:
                run.callback(record)
    finally:
        if bar is not None:
            bar.close()
    return weight, bias, history


def _epoch_record(arrays, run, result, epoch, weight, bias, started) -> EpochRecord:
    count = max(int(result["count"]), 1)
    train_rmse = float(np.sqrt(result["squared_error"] / count)) * run.scale.scale
    capacity = result["wall_seconds"] * result["threads"]
    idle = 1.0 - result["busy_seconds"] / capacity if capacity > 0 else 0.0
    return EpochRecord(
        epoch=epoch + 1,
        train_rmse=train_rmse,
        validation_rmse=validation_rmse(arrays, run, weight, bias),
        seconds=time.perf_counter() - started,
        idle_fraction=max(0.0, idle),
    )


def _progress_bar(total: int, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="epochs", unit="epoch", file=sys.stderr, leave=False)


def _report(record: EpochRecord, bar) -> None:
    validation = "-" if record.validation_rmse is None else f"{record.validation_rmse:.4f}"
    logger.info(
        "epoch %d: train RMSE %.4f, validation RMSE %s, %.3f s",
        record.epoch, record.train_rmse, validation, record.seconds,
    )
    if bar is not None:
        bar.set_postfix(train=f"{record.train_rmse:.4f}", validation=validation)
        bar.update(1)
