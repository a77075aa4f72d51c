"""The score summary of the native core and the score scale fit builds from it."""

import numpy as np
import pytest

from pyanimf import _core
from pyanimf.scaling import ScoreScale


def _scores_with_nan(size=300_000, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.integers(1, 11, size=size).astype(np.float32)
    scores[rng.random(size) < 0.2] = np.nan
    return scores


def test_score_summary_matches_numpy():
    scores = _scores_with_nan()
    rated = scores[~np.isnan(scores)]
    summary = _core.score_summary(scores)
    assert summary["count"] == len(rated)
    assert summary["mean"] == pytest.approx(rated.mean(dtype=np.float64), rel=1e-12)
    assert summary["std"] == pytest.approx(rated.std(dtype=np.float64), rel=1e-12)
    assert summary["low"] == 1.0
    assert summary["high"] == 10.0


def test_score_summary_same_for_any_thread_count():
    scores = _scores_with_nan(size=1_000_003)
    single_thread = _core.score_summary(scores, 1)
    for threads in (2, 3):
        assert _core.score_summary(scores, threads) == single_thread


def test_score_summary_of_only_nan_is_empty():
    summary = _core.score_summary(np.full(10, np.nan, dtype=np.float32))
    assert summary["count"] == 0


def test_score_summary_large_mean_keeps_spread():
    # A one-pass sum of squares would lose the spread of 1e6 + {0, 1}.
    scores = np.array([1e6, 1e6 + 1] * 1000, dtype=np.float32)
    assert _core.score_summary(scores)["std"] == pytest.approx(0.5, rel=1e-9)


def test_score_summary_rejects_float64():
    with pytest.raises(TypeError, match="scores: expected dtype float32"):
        _core.score_summary(np.ones(3))


def test_scale_fit_identity_and_sigmoid():
    scores = np.array([2.0, np.nan, 4.0, 6.0], dtype=np.float32)
    identity = ScoreScale.fit(scores, "identity")
    assert identity.shift == pytest.approx(4.0)
    assert identity.scale == pytest.approx(np.sqrt(8 / 3))
    sigmoid = ScoreScale.fit(scores, "sigmoid")
    assert (sigmoid.shift, sigmoid.scale, sigmoid.low, sigmoid.high) == (2.0, 4.0, 2.0, 6.0)


def test_scale_fit_equal_scores_keeps_unit_scale():
    scale = ScoreScale.fit(np.array([7.0, 7.0], dtype=np.float32), "identity")
    assert scale.scale == 1.0


def test_scale_fit_rejects_only_nan():
    with pytest.raises(ValueError, match="at least one score that is not NaN"):
        ScoreScale.fit(np.array([np.nan], dtype=np.float32), "identity")


def test_scale_fit_rejects_infinite_score():
    scores = np.array([5.0, np.nan, np.inf, 6.0], dtype=np.float32)
    with pytest.raises(ValueError, match="scores: expected finite numbers or NaN .unrated., got inf at position 2"):
        ScoreScale.fit(scores, "identity")
