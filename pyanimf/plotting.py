"""Learning curves: training and validation RMSE per epoch, drawn with matplotlib.

matplotlib is an optional dependency (``pip install 'pyanimf[plot]'``) and
is imported only when a plot is drawn.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from pyanimf.training import EpochRecord

INSTALL_HINT = "plotting needs matplotlib: pip install 'pyanimf[plot]'"


class MissingDependencyError(ImportError):
    """An optional dependency needed by the requested feature is not installed."""


def require_matplotlib() -> None:
    """Raise MissingDependencyError unless matplotlib can be imported."""
    _figure_classes()


def plot_history(
    history: Sequence[EpochRecord], path, *, best_epoch: Optional[int] = None, title: Optional[str] = None
) -> None:
    """Draw training and validation RMSE per epoch and save the figure to `path`.

    The training RMSE of an epoch is measured during that epoch, each error
    before its SGD update, so in the first epochs it can lie above the
    validation RMSE, which is measured after the epoch.

    Parameters
    ----------
    history : sequence of EpochRecord
        ``Model.history_``, or the records a ``fit`` callback received.
    path : str or os.PathLike
        Output file. Its extension picks the format (.png, .svg, .pdf, ...).
    best_epoch : int or None
        Marks this epoch with a dashed vertical line, for example
        ``Model.best_epoch_`` after early stopping.
    title : str or None
        Figure title; default "Learning curve".

    Raises
    ------
    MissingDependencyError
        When matplotlib is not installed (a subclass of ImportError).
    ValueError
        When `history` is empty.
    """
    records = list(history)
    if not records:
        raise ValueError("history: expected at least one EpochRecord, got none; train for at least one epoch")
    figure_class, canvas_class = _figure_classes()

    # The object-oriented API draws without pyplot, so no global figure state
    # or interactive backend is touched.
    figure = figure_class(figsize=(6.4, 4.0), layout="constrained")
    canvas_class(figure)
    axes = figure.add_subplot()
    epochs = [record.epoch for record in records]
    axes.plot(epochs, [record.train_rmse for record in records], marker="o", markersize=3, label="training")
    validation = [record.validation_rmse for record in records]
    if any(value is not None for value in validation):
        points = [(epoch, value) for epoch, value in zip(epochs, validation) if value is not None]
        axes.plot(*zip(*points), marker="o", markersize=3, label="validation")
    if best_epoch is not None:
        axes.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"kept epoch {best_epoch}")
    axes.set_xlabel("epoch")
    axes.set_ylabel("RMSE (rating scale)")
    axes.set_title(title if title is not None else "Learning curve")
    axes.grid(True, alpha=0.3)
    axes.legend()
    figure.savefig(os.fspath(path), dpi=100)


def _figure_classes():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise MissingDependencyError(f"{INSTALL_HINT} (import failed: {error})") from None
    return Figure, FigureCanvasAgg
