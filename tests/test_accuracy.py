"""Accuracy of the default model on the real MyAnimeList sample."""

import numpy as np

from pyanimf import Model


def test_default_model_beats_bias_baseline(anime_ratings):
    train, validation = anime_ratings.split(0.1, seed=42)
    model = Model(dim=128, seed=42).fit(train, validation=validation)
    rmse = model.rmse(validation)
    # On this split the global mean gives about 1.58, user + anime biases
    # alone about 1.21, the default model about 1.130, without the implicit
    # term about 1.133 and without user scales as well about 1.144.
    assert rmse <= 1.132
    # The per-epoch figure leaves out held-out rows whose user or anime has
    # no training score. rmse() keeps those known only from unrated rows, a
    # handful here, so the two differ slightly.
    kept = model.history_[model.best_epoch_ - 1]
    assert np.isclose(kept.validation_rmse, rmse, atol=1e-3)


def test_default_model_reaches_target_on_benchmark_split(anime_ratings):
    # The seed-0 split is the one bench/compare.py measures the other tools
    # on (bench/RESULTS.md). The target there is 1.12. The default model
    # reaches about 1.1194, and about 1.1229 without the implicit term.
    train, validation = anime_ratings.split(0.1, seed=0)
    model = Model(dim=128, seed=0).fit(train, validation=validation)
    assert model.fit_report_.implicit
    assert model.rmse(validation) <= 1.12
