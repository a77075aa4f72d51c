"""Affine map between the rating scale and the scale the core trains on."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pyanimf import _core


@dataclass(frozen=True)
class ScoreScale:
    """Internal score = (rating - shift) / scale; predictions are clipped to [low, high].

    Identity output standardises the ratings (shift = mean, scale = standard
    deviation), so one learning rate suits any rating scale. Sigmoid output
    min-max scales them to [0, 1], the range of the sigmoid.
    """

    shift: float
    scale: float
    low: float
    high: float

    @classmethod
    def fit(cls, scores: np.ndarray, output: str, threads: int = 1) -> "ScoreScale":
        """Fit the map to float32 `scores`, skipping NaN (unrated); at least one must be a number."""
        summary = _core.score_summary(np.ascontiguousarray(scores, dtype=np.float32), threads)
        if summary["count"] == 0:
            raise ValueError("scores: expected at least one score that is not NaN")
        if not np.isfinite(summary["mean"]):
            position = int(np.flatnonzero(np.isinf(scores))[0])
            raise ValueError(
                f"scores: expected finite numbers or NaN (unrated), got {scores[position]} at position {position}; "
                "remove the row or build the ratings with Ratings.from_arrays, which checks them"
            )
        low = float(summary["low"])
        high = float(summary["high"])
        if output == "sigmoid":
            spread = high - low
            return cls(shift=low, scale=spread if spread > 0 else 1.0, low=low, high=high)
        deviation = float(summary["std"])
        return cls(
            shift=float(summary["mean"]),
            scale=deviation if deviation > 0 else 1.0,
            low=low,
            high=high,
        )

    def to_ratings(self, internal: np.ndarray) -> np.ndarray:
        ratings = internal.astype(np.float64) * self.scale + self.shift
        return np.clip(ratings, self.low, self.high)

    def to_dict(self) -> dict:
        return asdict(self)
