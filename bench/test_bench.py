"""Test the benchmark scripts. Run them with `pytest bench/`, because the default test run leaves bench/ out.

They need numpy and pytest only, because the comparison test runs the numpy
baselines and none of the other tools.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import accuracy_variants  # noqa: E402
import compare  # noqa: E402
import fit_profile  # noqa: E402
import synth  # noqa: E402
from ratings_csv import format_integer_rows, read_ratings, write_ratings  # noqa: E402

SMALL = ["--users", "300", "--anime", "900", "--rows", "20000"]


def python_lines(users, anime, scores) -> bytes:
    return "".join(f"{u},{a},{s}\n" for u, a, s in zip(users, anime, scores)).encode()


def test_format_integer_rows_matches_python():
    rng = np.random.default_rng(1)
    users = rng.integers(0, 10**7, 5000)
    anime = rng.integers(0, 50000, 5000)
    scores = rng.integers(-1, 11, 5000)
    assert format_integer_rows(users, anime, scores) == python_lines(users, anime, scores)


@pytest.mark.parametrize("values", [[0], [9], [10], [99], [100], [10**12]], ids=str)
def test_format_integer_rows_digit_edges(values):
    array = np.array(values)
    assert format_integer_rows(array, array, -array) == python_lines(array, array, -array)


def test_format_integer_rows_rejects_negative_ids():
    with pytest.raises(ValueError, match="non-negative"):
        format_integer_rows(np.array([-1]), np.array([1]), np.array([5]))


def test_read_ratings_header_and_gzip(tmp_path):
    text = "user_id,anime_id,rating\n1,20,8\n1,30,-1\n2,20,10\n"
    plain = tmp_path / "ratings.csv"
    plain.write_text(text)
    compressed = tmp_path / "ratings.data"
    compressed.write_bytes(gzip.compress(text.encode()))
    headerless = tmp_path / "headerless.csv"
    headerless.write_text(text.split("\n", 1)[1])
    for path in (plain, compressed, headerless):
        users, anime, scores = read_ratings(path)
        assert users.tolist() == [1, 1, 2]
        assert anime.tolist() == [20, 30, 20]
        assert scores.tolist() == [8.0, -1.0, 10.0]


def test_read_ratings_decimal_scores(tmp_path):
    path = tmp_path / "ratings.csv"
    write_ratings(path, np.array([3, 4]), np.array([5, 6]), np.array([7.5, 2.25]))
    _, _, scores = read_ratings(path)
    assert scores.tolist() == [7.5, 2.25]


@pytest.fixture(scope="module")
def small_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("synth") / "small.csv"
    assert synth.main([*SMALL, "-o", str(path)]) == 0
    return path


def test_synth_small_file_invariants(small_file):
    assert small_file.read_text().startswith("user_id,anime_id,rating\n")
    users, anime, scores = read_ratings(small_file)
    keys = users * 10**6 + anime
    assert len(scores) == 20000
    assert np.all(np.diff(keys) > 0), "rows must be sorted by user then anime, with no repeated pair"
    assert len(np.unique(users)) == 300
    assert len(np.unique(anime)) <= 900
    assert set(np.unique(scores)) <= {-1.0, *map(float, range(1, 11))}


def test_synth_histogram_follows_profile(small_file):
    _, _, scores = read_ratings(small_file)
    rated = scores[scores > 0].astype(int)
    shares = np.bincount(rated, minlength=11)[1:] / len(rated)
    expected = synth.Profile.load("kaggle2017").score_shares
    assert np.max(np.abs(shares - expected)) < 0.03


def test_synth_side_file_marks_synthetic(small_file):
    side_file = json.loads(small_file.with_name(small_file.name + ".synthetic.json").read_text())
    assert side_file["synthetic"] is True
    assert side_file["rows"] == 20000
    assert "SYNTHETIC" in compare.describe_data(small_file, None)


def test_synth_same_seed_same_file(small_file, tmp_path):
    again = tmp_path / "again.csv"
    other_seed = tmp_path / "other.csv"
    synth.main([*SMALL, "-o", str(again)])
    synth.main([*SMALL, "--seed", "1", "-o", str(other_seed)])
    assert again.read_bytes() == small_file.read_bytes()
    assert other_seed.read_bytes() != small_file.read_bytes()


def test_synth_no_unrated_option(tmp_path):
    path = tmp_path / "scores_only.csv"
    synth.main([*SMALL, "--no-unrated", "-o", str(path)])
    _, _, scores = read_ratings(path)
    assert np.all(scores >= 1)


def test_synth_dense_users_get_distinct_anime():
    rng = np.random.default_rng(0)
    weights = synth.popularity_weights(synth.Profile.load("kaggle2017"), 200)
    counts = np.array([200, 150, 3, 1, 60])
    users, ranks = synth.sample_anime(rng, counts, weights)
    assert np.bincount(users, minlength=len(counts)).tolist() == counts.tolist()
    assert len(np.unique(users * 1000 + ranks)) == counts.sum()


def test_synth_rejects_impossible_sizes(tmp_path):
    with pytest.raises(SystemExit):
        synth.main(["--users", "10", "--anime", "5", "--rows", "51", "-o", str(tmp_path / "x.csv")])


def test_fit_profile_reads_back_counts(small_file, tmp_path):
    profile_path = tmp_path / "profile.json"
    assert fit_profile.main([str(small_file), "-o", str(profile_path), "--catalogue", "900"]) == 0
    profile = synth.Profile.load(str(profile_path))
    users, _, scores = read_ratings(small_file)
    assert profile.user_rows.sum() == len(scores)
    assert profile.user_unrated.sum() == np.count_nonzero(scores == -1)
    assert len(profile.user_rows) == len(np.unique(users))
    assert profile.catalogue_anime == 900


def test_write_split_keeps_validation_known(small_file, tmp_path):
    split = compare.write_split(small_file, tmp_path, 0.2, 0, -1.0, libmf=True)
    train_users, train_anime, train_scores = read_ratings(tmp_path / "train_scored.csv")
    valid_users, valid_anime, _ = read_ratings(tmp_path / "validation.csv")
    assert split.train_ratings == len(train_scores)
    assert np.all(train_scores > 0)
    assert np.all(np.isin(valid_users, train_users))
    assert np.all(np.isin(valid_anime, train_anime))
    libmf_lines = (tmp_path / "libmf_train.txt").read_text().splitlines()
    assert len(libmf_lines) == split.train_ratings
    assert libmf_lines[0].count(" ") == 2


def test_compare_baselines_end_to_end(small_file, capsys):
    assert compare.main(["--data", str(small_file), "--contenders", "mean,biases"]) == 0
    output = capsys.readouterr().out
    assert "SYNTHETIC" in output
    rows = [line for line in output.splitlines() if line.startswith("| global mean") or line.startswith("| user")]
    assert len(rows) == 2
    mean_rmse, biases_rmse = (float(row.split("|")[6]) for row in rows)
    assert biases_rmse < mean_rmse


def test_accuracy_variants_default_row(capsys):
    assert accuracy_variants.main(["--only", "default,decay"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| default") or line.startswith("| step")]
    assert len(rows) == 2
    rmse = [float(row.split("|")[2]) for row in rows]
    # Both are trained models on the bundled sample, well below the global mean's 1.58.
    assert all(1.0 < value < 1.2 for value in rmse)


def test_accuracy_variants_unknown_name(capsys):
    assert accuracy_variants.main(["--only", "nosuch"]) == 2
    assert "--only: unknown variant 'nosuch'" in capsys.readouterr().err
