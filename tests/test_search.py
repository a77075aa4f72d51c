"""Cross-validation and settings search on a slice of the real ratings, and their commands."""

import math

import numpy as np
import pytest

from pyanimf.cli.main import main
from pyanimf.search import cross_validate, split_folds, tune

FAST = {"dim": 16, "epochs": 3}


def test_folds_disjoint_and_cover_scored_rows(small_ratings):
    folds = split_folds(small_ratings, folds=5, seed=0)
    joined = np.concatenate(folds)
    assert len(folds) == 5
    assert len(joined) == len(np.unique(joined))
    np.testing.assert_array_equal(np.sort(joined), np.flatnonzero(small_ratings.rated))
    sizes = [len(fold) for fold in folds]
    assert max(sizes) - min(sizes) <= 1


def test_folds_seeded(small_ratings):
    first = split_folds(small_ratings, folds=3, seed=7)
    again = split_folds(small_ratings, folds=3, seed=7)
    other = split_folds(small_ratings, folds=3, seed=8)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("folds", [1, 0, 2.5, True, 10**9])
def test_folds_rejects_bad_count(small_ratings, folds):
    with pytest.raises(ValueError, match="folds: expected an integer from 2 to the number of scored rows"):
        split_folds(small_ratings, folds=folds)


@pytest.fixture(scope="module")
def three_folds(small_ratings):
    """cross_validate on 3 folds, and the folds its callback received."""
    seen = []
    return cross_validate(small_ratings, folds=3, seed=0, callback=seen.append, **FAST), seen


def test_cross_validate_rows_and_summary(three_folds, small_ratings):
    result, seen = three_folds
    assert [fold.fold for fold in result.folds] == [1, 2, 3]
    assert seen == result.folds
    assert sum(fold.rows + fold.dropped for fold in result.folds) == small_ratings.n_rated
    assert result.mean == pytest.approx(np.mean(result.rmse))
    assert result.sd == pytest.approx(np.std(result.rmse, ddof=1))
    assert all(0.5 < rmse < 2.0 for rmse in result.rmse)


def test_cross_validate_drops_untrained_users(three_folds, small_ratings):
    result, _ = three_folds
    folds = split_folds(small_ratings, folds=3, seed=0)
    held_out = folds[0]
    train = np.ones(len(small_ratings), dtype=bool)
    train[held_out] = False
    train &= small_ratings.rated
    predictable = (np.isin(small_ratings.user_ids[held_out], small_ratings.user_ids[train])
                   & np.isin(small_ratings.anime_ids[held_out], small_ratings.anime_ids[train]))
    assert result.folds[0].dropped == int((~predictable).sum())
    assert result.folds[0].dropped > 0


def test_cross_validate_rejects_unknown_setting(small_ratings):
    with pytest.raises(ValueError, match="unknown Model settings \\['dims'\\]"):
        cross_validate(small_ratings, folds=2, dims=16)


def test_cross_validate_rejects_bad_value_before_training(small_ratings):
    with pytest.raises(ValueError, match="dim: expected an integer from 1"):
        cross_validate(small_ratings, folds=2, dim=0)


def test_tune_grid_returns_minimum(small_ratings):
    grid = {"dim": [8, 16], "regularization": [0.02, 0.1]}
    seen = []
    result = tune(small_ratings, grid, validation=0.1, seed=0, callback=seen.append, epochs=3)
    assert len(result.trials) == 4
    assert len(seen) == 4
    assert {tuple(trial.settings.items()) for trial in result.trials} == {
        (("dim", d), ("regularization", r)) for d in (8, 16) for r in (0.02, 0.1)
    }
    rmses = [trial.rmse for trial in result.trials]
    assert rmses == sorted(rmses)
    assert result.best.rmse == min(trial.rmse for trial in seen)
    assert all(1 <= trial.best_epoch <= 3 for trial in result.trials)


def test_tune_random_search_seeded(small_ratings):
    grid = {"dim": [4, 8, 16], "learning_rate": [0.005, 0.01]}
    first = tune(small_ratings, grid, max_trials=2, seed=5, epochs=1)
    again = tune(small_ratings, grid, max_trials=2, seed=5, epochs=1)
    assert len(first.trials) == 2
    assert len({tuple(trial.settings.items()) for trial in first.trials}) == 2
    assert first == again


def test_tune_keeps_diverged_trial(small_ratings):
    result = tune(small_ratings, {"learning_rate": [1e6, 0.01]}, epochs=2, dim=8)
    assert result.best.settings == {"learning_rate": 0.01}
    diverged = result.trials[-1]
    assert math.isinf(diverged.rmse)
    assert "lower learning_rate" in diverged.error


@pytest.mark.parametrize(
    "grid, arguments, message",
    [
        ({}, {}, "grid: expected a non-empty dict"),
        ({"dim": []}, {}, "grid\\['dim'\\]: expected a non-empty list of values"),
        ({"dim": "16"}, {}, "grid\\['dim'\\]: expected a non-empty list"),
        ({"depth": [2]}, {}, "unknown Model settings \\['depth'\\]"),
        ({"seed": [1, 2]}, {}, "'seed' cannot be searched"),
        ({"dim": [8]}, {"validation": 0}, "validation: expected a fraction in \\(0, 1\\), got 0"),
        ({"dim": [8, 0]}, {}, "dim: expected an integer from 1"),
        ({"dim": [8, 16]}, {"max_trials": 0}, "max_trials: expected a positive integer or None, got 0"),
    ],
    ids=["empty", "empty-list", "string", "unknown-name", "seed", "no-validation", "bad-value", "zero-trials"],
)
def test_tune_rejects_bad_arguments(small_ratings, grid, arguments, message):
    with pytest.raises(ValueError, match=message):
        tune(small_ratings, grid, epochs=1, **arguments)


@pytest.fixture(scope="module")
def ratings_file(small_ratings, tmp_path_factory):
    path = tmp_path_factory.mktemp("search") / "ratings.csv"
    scores = np.where(np.isnan(small_ratings.scores), -1, small_ratings.scores)
    lines = [f"{u},{a},{s:g}" for u, a, s in zip(small_ratings.user_ids, small_ratings.anime_ids, scores)]
    path.write_text("user_id,anime_id,rating\n" + "\n".join(lines) + "\n")
    return path


def test_cli_cv_prints_folds_and_mean(ratings_file, capsys):
    assert main(["cv", str(ratings_file), "--folds", "3", "--dim", "16", "--epochs", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    fold_lines = [line for line in lines if line.startswith("fold ")]
    assert len(fold_lines) == 3
    assert "RMSE" in fold_lines[0]
    assert "dropped" in fold_lines[0]
    summary = lines[-1]
    assert summary.startswith("RMSE: ")
    assert "±" in summary
    assert "over 3 folds" in summary


def test_cli_tune_prints_trials_and_best(ratings_file, capsys):
    code = main(["tune", str(ratings_file), "--dim", "8,16", "--reg", "0.02,0.05", "--lr", "0.01",
                 "--epochs", "2", "--trials", "3"])
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    trial_lines = [line for line in lines if line.startswith("trial ")]
    assert len(trial_lines) == 3
    best = lines[-1]
    assert best.startswith("best: dim=")
    best_rmse = float(best.split("validation RMSE ")[1].split()[0])
    trial_rmses = [float(line.split("validation RMSE ")[1].split()[0]) for line in trial_lines]
    assert best_rmse == min(trial_rmses)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["cv", "--folds", "1"], "--folds: expected an integer of at least 2, got 1"),
        (["tune", "--dim", "16,x"], "--dim: invalid value 'x' in '16,x'; expected comma-separated integers"),
        (["tune", "--lr", "0.01,fast"], "--lr: invalid value 'fast' in '0.01,fast'; expected comma-separated numbers"),
    ],
    ids=["cv-one-fold", "tune-bad-dim", "tune-bad-lr"],
)
def test_cli_search_bad_options(argv, message, capsys):
    assert main(argv) == 1
    assert f"pyanimf: error: {message}" in capsys.readouterr().err
