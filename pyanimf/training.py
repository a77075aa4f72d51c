"""The epoch loop: runs the core's SGD epochs, tracks RMSE, reports progress."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from pyanimf import _core
from pyanimf.errors import TrainingDivergedError
from pyanimf.scaling import ScoreScale

logger = logging.getLogger("pyanimf")


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped training after a completed epoch.

    `Model.fit` raises it after setting the model to the epoch that a
    normal end would keep among the completed ones: the best by validation
    RMSE with early stopping, else the last. The model can then be queried
    and saved.

    Attributes
    ----------
    completed_epochs : int
        Epochs that ran to the end.
    total_epochs : int
        Epochs the run was set to train.
    kept_epoch : int
        The epoch (1-based) whose model was kept.
    """

    def __init__(self, completed_epochs: int, total_epochs: int, kept_epoch: int, outcome: tuple = ()):
        super().__init__(
            f"training interrupted after epoch {completed_epochs} of {total_epochs}; "
            f"kept the model of epoch {kept_epoch}"
        )
        self.completed_epochs = completed_epochs
        self.total_epochs = total_epochs
        self.kept_epoch = kept_epoch
        # What run_epochs would have returned: (weight, bias, history, kept epoch).
        self.outcome = outcome


class _SigintRecorder:
    """Turns SIGINT into a request to stop after the current epoch.

    The epoch runs in C++ without the GIL, so Python runs a signal handler
    only once the epoch returns, and a KeyboardInterrupt raised there would
    lose the epoch's output layer. This handler only records the request.
    It is installed only in the main thread and only over Python's default
    handler, so a handler set by the application stays in charge.
    """

    def __init__(self) -> None:
        self.requested = False
        self._installed = False

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return
        signal.signal(signal.SIGINT, self._record)
        self._installed = True

    def restore(self) -> None:
        if self._installed:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            self._installed = False

    def _record(self, signum, frame) -> None:
        self.requested = True


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
    # Stop once validation RMSE has not improved for `patience` epochs and
    # restore the best epoch's model; only with a validation set.
    early_stopping: bool = True
    patience: int = 5
    # The implicit term (sgd/implicit.hpp): each user's listed anime, or
    # None when the term is off, and the step of the anime rows y_j after each epoch.
    implicit_lists: Optional["_core.ImplicitLists"] = None
    implicit_learning_rate: float = 0.0


class _BestEpoch:
    """A copy of the model at the epoch with the lowest validation RMSE so far."""

    def __init__(self):
        self.epoch = 0
        self.rmse = float("inf")
        self.arrays = None
        self.dense = None

    def offer(self, arrays, epoch: int, rmse: float, dense) -> bool:
        """Keep a copy if `rmse` is the best so far; returns whether it was."""
        if not rmse < self.rmse:
            return False
        self.epoch, self.rmse, self.dense = epoch, rmse, dense
        self.arrays = tuple(np.array(view) for view in _views(arrays))
        return True

    def restore(self, arrays):
        for view, saved in zip(_views(arrays), self.arrays):
            view[...] = saved
        return self.dense


def _views(arrays):
    return arrays.user_factors, arrays.item_factors, arrays.user_bias, arrays.item_bias


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
    """Train `arrays` in place for up to `run.epochs` epochs.

    Returns the output layer's final (weight, bias), the list of
    EpochRecord and the epoch whose model was kept (1-based; with early
    stopping the best by validation RMSE, else the last). Raises
    TrainingDivergedError, naming the setting to lower, in the epoch where a
    NaN or infinity first appears.

    Ctrl-C (SIGINT, when training runs in the main thread) stops the run
    after the epoch in progress and raises TrainingInterrupted, whose
    ``outcome`` is what this function would return for the completed epochs.
    """
    history = []
    stopping = run.early_stopping and run.validation is not None and len(run.validation.scores) > 0
    best = _BestEpoch()
    show_bar = run.progress if run.progress is not None else sys.stderr.isatty()
    bar = _progress_bar(run.epochs, show_bar)
    interrupt = _SigintRecorder()
    interrupt.install()
    try:
        for epoch in range(run.epochs):
            started = time.perf_counter()
            # The implicit term's step for the previous epoch's gradients
            # comes before this epoch. So the model after any epoch, the last
            # one included, contains the z that its SGD pass trained against,
            # and a step that went wrong shows in this epoch's loss.
            if run.implicit_lists is not None and epoch > 0 and not _core.implicit_epoch_end(
                run.implicit_lists, arrays, run.implicit_learning_rate, run.threads
            ):
                raise TrainingDivergedError(
                    f"training diverged before epoch {epoch + 1}: the implicit term's step made the user "
                    f"factors NaN or infinite; lower implicit_learning_rate (now {run.implicit_learning_rate:g})"
                )
            result = _core.run_epoch(
                run.grid, arrays, run.settings, weight, bias,
                kernel=run.kernel, threads=run.threads, seed=run.seed, epoch=epoch,
            )
            if not result["finite"]:
                raise TrainingDivergedError(_divergence_message(run, epoch))
            weight, bias = result["weight"], result["bias"]
            record = _epoch_record(arrays, run, result, epoch, weight, bias, started)
            history.append(record)
            _report(record, bar)
            if run.callback is not None:
                run.callback(record)
            if stopping:
                best.offer(arrays, record.epoch, record.validation_rmse, (weight, bias))
                if record.epoch - best.epoch >= run.patience:
                    logger.info("early stopping after epoch %d: best was epoch %d", record.epoch, best.epoch)
                    break
            if interrupt.requested:
                break
    finally:
        interrupt.restore()
        if bar is not None:
            bar.close()
    kept = len(history)
    if stopping and best.epoch and best.epoch != len(history):
        weight, bias = best.restore(arrays)
        kept = best.epoch
    if interrupt.requested:
        logger.info("interrupted after epoch %d of %d: kept epoch %d", len(history), run.epochs, kept)
        raise TrainingInterrupted(len(history), run.epochs, kept, (weight, bias, history, kept))
    return weight, bias, history, kept


def _divergence_message(run: TrainingRun, epoch: int) -> str:
    message = (
        f"training diverged in epoch {epoch + 1}: the loss became NaN or infinite; "
        f"lower learning_rate (now {run.settings.learning_rate:g}) or raise "
        f"regularization (now {run.settings.regularization:g})"
    )
    if run.implicit_lists is not None and epoch > 0:
        # The implicit term's step before this epoch may be the cause.
        message += f", or lower implicit_learning_rate (now {run.implicit_learning_rate:g})"
    return message


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
