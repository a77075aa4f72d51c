"""Bad input end to end: each kind ends in a clear error or a documented rule.

docs/bad-input.md lists every case with what pyanimf does. The ratings files
live in tests/data/, one small file per case, byte for byte as named.
"""

from __future__ import annotations

import errno
import json
import logging
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyanimf import Model, ModelFileError, TrainingDivergedError, _core, persistence
from pyanimf.cli.main import main
from pyanimf.errors import RatingsFormatError
from pyanimf.ratings import Ratings, load_ratings

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def trained(small_ratings):
    return Model(dim=16, epochs=3, seed=3).fit(small_ratings)


@pytest.fixture(scope="module")
def model_path(trained, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    trained.save(path)
    return path


# ---- Input files that load -------------------------------------------------------------

ACCEPTED = [
    # (file, user ids, anime ids, scores)
    ("utf8_bom.csv", [1, 2], [10, 20], [8, 7]),
    ("crlf.csv", [1, 2], [10, 20], [8, 7]),
    ("cr_only.csv", [1, 2], [10, 20], [8, 7]),
    ("no_final_newline.csv", [1, 2], [10, 20], [8, 7]),
    ("blank_lines.csv", [1, 2], [10, 20], [8, 7]),
    ("trailing_spaces.csv", [1, 2], [10, 20], [8, 7]),
    ("no_header.csv", [1, 2], [10, 20], [8, 7]),
    ("columns_reordered.csv", [1, 2], [10, 20], [8, 7]),
    ("timestamp_column.csv", [1, 2], [10, 20], [8, 7]),
    ("tab.tsv", [1, 2], [10, 20], [8, 7]),
    ("semicolon.csv", [1, 2], [10, 20], [8, 7]),
    ("double_colon.dat", [1, 2], [10, 20], [8, 7]),
    ("fractional_scores.csv", [1, 2, 3], [10, 20, 10], [7.5, 8.25, 0.1]),
    ("large_ids.csv", [2**31, 2**63 - 1], [2**53 + 1, 2**53], [8, 7]),
    ("negative_ids.csv", [-1, -2], [-10, 10], [8, 7]),
    ("string_ids.csv", ["alice", "bob", "alice"], ["Cowboy Bebop", "Trigun", "Trigun"], [9, 8, 7]),
    ("leading_zero_ids.csv", [7, 7], [10, 20], [8, 7]),
    ("leading_zero_string_ids.csv", ["007", "7", "alice"], [10, 20, 10], [8, 7, 5]),
    ("single_rating.csv", [1], [10], [8]),
    ("identical_scores.csv", [1, 1, 2, 2, 3, 3], [10, 20, 10, 30, 20, 30], [7] * 6),
]


@pytest.mark.parametrize(("name", "users", "anime", "scores"), ACCEPTED, ids=[case[0] for case in ACCEPTED])
def test_load_accepted_file(name, users, anime, scores):
    ratings = load_ratings(DATA / name)
    assert ratings.user_ids.tolist() == users
    assert ratings.anime_ids.tolist() == anime
    np.testing.assert_array_equal(ratings.scores, np.array(scores, dtype=np.float32))


def test_load_large_ids_exact_beyond_float_precision():
    ratings = load_ratings(DATA / "large_ids.csv")
    assert ratings.anime_ids.dtype == np.int64
    # 2^53 + 1 and 2^53 are the same double; as int64 they stay two ids.
    assert len(set(ratings.anime_ids.tolist())) == 2


def test_load_leading_zeros_integer_column_same_id():
    ratings = load_ratings(DATA / "leading_zero_ids.csv")
    assert ratings.user_ids.dtype == np.int32
    assert set(ratings.user_ids.tolist()) == {7}


def test_load_leading_zeros_string_column_distinct_ids():
    ratings = load_ratings(DATA / "leading_zero_string_ids.csv")
    assert ratings.user_ids.dtype.kind == "U"
    assert len(set(ratings.user_ids.tolist())) == 3
    # The anime column holds only integers, so it stays an integer column.
    assert ratings.anime_ids.dtype == np.int32


# ---- Input files that raise ---------------------------------------------------------------

REJECTED = [
    # (file, pieces of the message besides the file name)
    ("utf16.csv", ["UTF-16", "save it as UTF-8"]),
    ("utf16_no_bom.csv", ["UTF-16", "save it as UTF-8"]),
    ("mixed_separators.csv", ["line 2", "separated by ';'", "use one separator"]),
    ("score_not_a_number.csv", ["line 3", "column 'rating'", "invalid score 'good'", "such as 8 or 7.5"]),
    ("score_empty.csv", ["line 3", "column 'rating'", "missing score (empty field)"]),
    ("score_nan.csv", ["line 3", "column 'rating'", "score 'NaN' is not a finite number"]),
    ("score_infinite.csv", ["line 3", "column 'rating'", "score 'inf' is not a finite number"]),
    ("score_decimal_comma.csv", ["line 3", "invalid score '7,5'", "write decimals with '.'"]),
    ("float_id.csv", ["line 3", "column 'user_id'", "float-formatted id '2.5'", "convert the column to integers"]),
    ("id_beyond_int64.csv", ["line 3", "id '9223372036854775808' is outside the 64-bit integer range"]),
    ("empty.csv", ["no ratings", "empty or has only a header line"]),
    ("header_only.csv", ["no ratings", "empty or has only a header line"]),
]


@pytest.mark.parametrize(("name", "pieces"), REJECTED, ids=[case[0] for case in REJECTED])
def test_load_rejected_file(name, pieces):
    with pytest.raises(RatingsFormatError) as error:
        load_ratings(DATA / name)
    message = str(error.value)
    assert str(DATA / name) in message
    for piece in pieces:
        assert piece in message


@pytest.mark.parametrize("name", ["utf16.csv", "score_not_a_number.csv", "float_id.csv", "empty.csv"])
def test_cli_fit_rejected_file_clean_error(name, tmp_path, capsys):
    output = tmp_path / "m.npz"
    assert main(["fit", str(DATA / name), "--quiet", "-o", str(output)]) == 1
    error = capsys.readouterr().err
    assert error.startswith("pyanimf: error: ")
    assert name in error
    assert "Traceback" not in error
    assert not output.exists()


def test_cli_directory_as_ratings_clean_error(tmp_path, capsys):
    assert main(["fit", str(tmp_path), "--quiet", "-o", str(tmp_path / "m.npz")]) == 1
    error = capsys.readouterr().err
    assert error.startswith("pyanimf: error: ")
    assert f"{tmp_path}: is a directory" in error


def test_cli_output_in_missing_directory_clean_error(tmp_path, capsys):
    output = tmp_path / "absent" / "m.npz"
    code = main(["fit", str(DATA / "one_rating_user.csv"), "--dim", "4", "--epochs", "1", "--quiet",
                 "-o", str(output)])
    assert code == 1
    error = capsys.readouterr().err
    assert error.startswith("pyanimf: error: ")
    assert f"{output}: folder {tmp_path / 'absent'} not found" in error


def test_cli_fit_checks_the_output_folder_before_training(tmp_path, capsys):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    code = main(["fit", str(DATA / "one_rating_user.csv"), "--dim", "4", "--epochs", "1", "-o", str(afile / "m.npz")])
    assert code == 1
    captured = capsys.readouterr()
    assert f"{afile / 'm.npz'}: {afile} is a file, not a folder" in captured.err
    # Nothing was loaded or trained.
    assert "trained:" not in captured.out


# ---- Repeated (user, anime) pairs: the last row wins -------------------------------------------


def test_duplicates_last_row_wins(caplog):
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        ratings = load_ratings(DATA / "duplicate_pairs.csv")
    rows = sorted(zip(ratings.user_ids.tolist(), ratings.anime_ids.tolist(), ratings.scores.tolist()))
    assert rows == [(1, 10, 10.0), (1, 20, 6.0), (2, 10, 5.0)]
    warnings = [record for record in caplog.records if record.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "duplicate_pairs.csv" in message
    assert "2 rows repeat the (user, anime) pair" in message
    assert "user 1 and anime 10" in message
    assert "last row of each pair was kept" in message


def test_duplicates_keep_file_order_of_kept_rows():
    ratings = load_ratings(DATA / "duplicate_pairs.csv")
    assert ratings.user_ids.tolist() == [1, 2, 1]
    assert ratings.anime_ids.tolist() == [20, 10, 10]


def test_duplicates_from_arrays_string_ids(caplog):
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        ratings = Ratings.from_arrays(["b", "a", "b", "a"], ["x", "x", "x", "y"], [1.0, 2.0, 3.0, 4.0])
    assert ratings.user_ids.tolist() == ["a", "b", "a"]
    assert ratings.scores.tolist() == [2.0, 3.0, 4.0]
    assert "1 row repeats" in caplog.text
    assert "user 'b' and anime 'x'" in caplog.text


def test_duplicates_unrated_row_can_win():
    ratings = Ratings.from_arrays([1, 1], [10, 10], [8.0, -1.0])
    assert len(ratings) == 1
    assert np.isnan(ratings.scores[0])


def test_duplicates_none_no_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        load_ratings(DATA / "one_rating_user.csv")
    assert not caplog.records


def test_duplicates_fit_trains_on_last_row():
    model = Model(dim=4, epochs=30, learning_rate=0.05).fit([1, 1, 2], [10, 10, 10], [1.0, 9.0, 9.0])
    assert model.fit_report_.train_ratings == 2
    assert model.predict([1], [10])[0] == pytest.approx(9.0)


def pair_columns(pairs, grouped, dense_anime):
    """Return (users, anime) int64 columns of `pairs`, sorted by user when `grouped`.

    With `dense_anime` the anime ids span few values, which takes the core's
    dense path; other ids take its hash path.
    """
    if dense_anime:
        pairs = [(user, item % 3) for user, item in pairs]
    if grouped:
        pairs = sorted(pairs, key=lambda pair: pair[0])
    users = np.array([user for user, _ in pairs], dtype=np.int64)
    anime = np.array([item for _, item in pairs], dtype=np.int64)
    return users, anime


def superseded_reference(users, anime):
    last = {}
    dropped = []
    for row, pair in enumerate(zip(users, anime)):
        if pair in last:
            dropped.append(last[pair])
        last[pair] = row
    return sorted(dropped)


@settings(deadline=None, max_examples=150)
@given(
    pairs=st.lists(st.tuples(st.integers(-3, 3), st.sampled_from([0, 1, 2**40, -(2**63)])), max_size=60),
    grouped=st.booleans(),
    dense_anime=st.booleans(),
)
def test_superseded_rows_matches_reference(pairs, grouped, dense_anime):
    users, anime = pair_columns(pairs, grouped, dense_anime)
    assert _core.superseded_rows(users, anime).tolist() == superseded_reference(users.tolist(), anime.tolist())


@settings(deadline=None, max_examples=100)
@given(
    user_counts=st.lists(st.integers(1, 40), min_size=1, max_size=30),
    anime_span=st.integers(1, 12),
    seed=st.integers(0, 2**32 - 1),
    threads=st.integers(1, 3),
)
def test_superseded_rows_sorted_users_on_threads(user_counts, anime_span, seed, threads):
    # Users in increasing order with few anime take the core's in-place path,
    # which splits the rows between threads at user boundaries.
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(len(user_counts), dtype=np.int64) * 3 - 20, user_counts)
    anime = rng.integers(0, anime_span, len(users)).astype(np.int64) + 1000
    expected = superseded_reference(users.tolist(), anime.tolist())
    assert _core.superseded_rows(users, anime, threads=threads).tolist() == expected


@settings(deadline=None, max_examples=150)
@given(
    pairs=st.lists(st.tuples(st.integers(-3, 3), st.sampled_from([0, 1, 2**31 - 1, -(2**31)])), max_size=60),
    grouped=st.booleans(),
    dense_anime=st.booleans(),
    threads=st.integers(1, 3),
)
def test_superseded_rows_int32_matches_int64(pairs, grouped, dense_anime, threads):
    users, anime = pair_columns(pairs, grouped, dense_anime)
    narrow = _core.superseded_rows(users.astype(np.int32), anime.astype(np.int32), threads=threads)
    assert narrow.tolist() == superseded_reference(users.tolist(), anime.tolist())


def test_superseded_rows_user_split_across_cut():
    # One user's rows fill most of the array, so a cut in the middle must move past them.
    users = np.array([1] * 300 + [2] * 10, dtype=np.int64)
    anime = np.array([item % 4 for item in range(300)] + [0, 0, 1, 2, 3, 3, 3, 4, 5, 6], dtype=np.int64)
    expected = superseded_reference(users.tolist(), anime.tolist())
    assert len(expected) == 296 + 3
    for threads in (1, 2, 4):
        assert _core.superseded_rows(users, anime, threads=threads).tolist() == expected


def test_superseded_rows_rejects_bad_arrays():
    good = np.zeros(3, dtype=np.int64)
    with pytest.raises(TypeError, match="user_ids must have dtype int32 or int64, got float64"):
        _core.superseded_rows(good.astype(np.float64), good)
    with pytest.raises(TypeError, match="must have the same dtype, got int32 and int64"):
        _core.superseded_rows(good.astype(np.int32), good)
    with pytest.raises(ValueError, match="anime_ids must be 1-dimensional, got 2"):
        _core.superseded_rows(good, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="same length, got 3 and 2"):
        _core.superseded_rows(good, good[:2])


def test_superseded_rows_strided_input():
    pairs = np.array([[1, 10], [1, 10], [2, 10]], dtype=np.int64)
    assert _core.superseded_rows(pairs[:, 0], pairs[:, 1]).tolist() == [0]


# ---- The core's argument checks, each tripped once ----------------------------------------------


def core_arrays():
    return _core.ModelArrays(3, 4, 2)


def int32s(*values):
    return np.array(values, dtype=np.int32)


def int64s(*values):
    return np.array(values, dtype=np.int64)


def batch_args(**changes):
    args = {
        "dots": np.zeros((2, 4), dtype=np.float32),
        "weight": 1.0,
        "user_offset": np.zeros(2, dtype=np.float32),
        "item_offset": np.zeros(4, dtype=np.float32),
        "seen_indptr": np.array([0, 1, 2], dtype=np.int64),
        "seen_items": int32s(0, 3),
        "n": 2,
        "threads": 1,
    }
    args.update(changes)
    return args


CORE_CHECKS = [
    # (case, call, exception, message)
    ("predict dtype", lambda: _core.predict(core_arrays(), _core.SgdSettings(), 1.0, 0.0,
                                            np.zeros(2, np.int64), int32s(0, 1)),
     TypeError, "users: expected dtype int32, got int64"),
    ("predict 2-D", lambda: _core.predict(core_arrays(), _core.SgdSettings(), 1.0, 0.0,
                                          np.zeros((1, 2), np.int32), int32s(0, 1)),
     ValueError, "users: expected a 1-D array, got 2 dimensions"),
    ("predict strided", lambda: _core.predict(core_arrays(), _core.SgdSettings(), 1.0, 0.0,
                                              np.zeros(4, np.int32)[::2], int32s(0, 1)),
     ValueError, "users: expected a C-contiguous array"),
    ("predict lengths", lambda: _core.predict(core_arrays(), _core.SgdSettings(), 1.0, 0.0,
                                              int32s(0, 1), int32s(0)),
     ValueError, r"items: expected the length of users \(2\), got 1"),
    ("predict index", lambda: _core.predict(core_arrays(), _core.SgdSettings(), 1.0, 0.0,
                                            int32s(0, 3), int32s(0, 1)),
     ValueError, r"users: expected indices in \[0, 3\), got 3 at position 1"),
    ("top_n user", lambda: _core.top_n_items(core_arrays(), _core.SgdSettings(), 1.0, 0.0, 3, int32s(), 2),
     ValueError, "user: expected 0 to 2, got 3"),
    ("top_n n", lambda: _core.top_n_items(core_arrays(), _core.SgdSettings(), 1.0, 0.0, 0, int32s(), -1),
     ValueError, "n: expected 0 to 2147483647, got -1"),
    ("similar side", lambda: _core.most_similar(core_arrays(), "anime", 0, 2),
     ValueError, "side: expected 'users' or 'items', got 'anime'"),
    ("similar query", lambda: _core.most_similar(core_arrays(), "items", 4, 2),
     ValueError, "query: expected 0 to 3, got 4"),
    ("batch dots", lambda: _core.top_n_batch(**batch_args(dots=np.zeros((2, 4)))),
     TypeError, "dots: expected a 2-D float32 array"),
    ("batch offsets", lambda: _core.top_n_batch(**batch_args(user_offset=np.zeros(3, np.float32))),
     ValueError, r"user_offset, seen_indptr: expected 2 and 3 entries \(rows of dots\), got 3 and 3"),
    ("batch item offsets", lambda: _core.top_n_batch(**batch_args(item_offset=np.zeros(5, np.float32))),
     ValueError, r"item_offset: expected 4 entries \(columns of dots\), got 5"),
    ("batch indptr", lambda: _core.top_n_batch(**batch_args(seen_indptr=np.array([0, 2, 1], np.int64))),
     ValueError, "seen_indptr: expected non-decreasing offsets within seen_items, got 2, 1 at row 1"),
    ("batch seen", lambda: _core.top_n_batch(**batch_args(seen_items=int32s(0, 4))),
     ValueError, r"seen_items: expected indices in \[0, 4\), got 4 at position 1"),
    ("batch n", lambda: _core.top_n_batch(**batch_args(n=5)),
     ValueError, "n: expected 0 to 4, got 5"),
    ("arrays users", lambda: _core.ModelArrays(0, 4, 2), ValueError, "n_users: expected 1 to 2147483647, got 0"),
    ("arrays dim", lambda: _core.ModelArrays(3, 4, 65537), ValueError, "dim: expected 1 to 65536, got 65537"),
    ("grid users", lambda: _core.BlockGrid(int32s(0), int32s(0), np.ones(1, np.float32), 2**31, 1, 1, 0),
     ValueError, "n_users: expected 1 to 2147483647, got 2147483648"),
    ("parse marker", lambda: _core.parse_ratings(b"1,2,3\n", "x.csv", float("inf")),
     ValueError, "unrated must be a finite number or None, got inf"),
    ("parse threads", lambda: _core.parse_ratings(b"1,2,3\n", "x.csv", None, threads=4097),
     ValueError, "threads: expected 1 to 4096, got 4097"),
    ("superseded threads", lambda: _core.superseded_rows(int64s(1), int64s(2), threads=0),
     ValueError, "threads: expected 1 to 4096, got 0"),
    ("extremes dtype", lambda: _core.score_extremes(np.ones(3)),
     TypeError, "scores must have dtype float32, got float64"),
    ("extremes threads", lambda: _core.score_extremes(np.ones(3, np.float32), threads=0),
     ValueError, "threads: expected 1 to 4096, got 0"),
]


@pytest.mark.parametrize(("case", "call", "exception", "message"), CORE_CHECKS, ids=[case[0] for case in CORE_CHECKS])
def test_core_rejects_invalid_argument(case, call, exception, message):
    with pytest.raises(exception, match=message):
        call()


# ---- Scores outside the range the file otherwise uses ------------------------------------------


def write_scores(tmp_path, scores):
    path = tmp_path / "scores.csv"
    lines = ["user_id,anime_id,rating"] + [f"{row},{row % 7},{score}" for row, score in enumerate(scores)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_isolated_high_score_warns(tmp_path, caplog):
    scores = [row % 10 + 1 for row in range(2000)]
    scores[1234] = 100
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        ratings = load_ratings(write_scores(tmp_path, scores))
    assert float(np.nanmax(ratings.scores)) == 100.0
    message = caplog.records[0].getMessage()
    assert "score 100 is in 1 of 2,000 scored rows" in message
    assert "user 1234 and anime 2" in message
    assert "range from 1 to 10" in message
    assert "Fix or remove those rows" in message


def test_isolated_low_score_warns(tmp_path, caplog):
    scores = [row % 5 + 6 for row in range(1500)]
    scores[3] = -40
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        load_ratings(write_scores(tmp_path, scores))
    assert "score -40 is in 1 of 1,500 scored rows" in caplog.text


@pytest.mark.parametrize(
    ("change", "rows"),
    [
        ("common marker", 2000),  # -1 on 20% of the rows, as in Kaggle's data read with unrated=None
        ("near value", 2000),  # 11 in a file of 1-10 is close to the others
        ("small file", 999),  # too few scores to judge
    ],
)
def test_isolated_score_no_warning(tmp_path, caplog, change, rows):
    scores = [row % 10 + 1 for row in range(rows)]
    if change == "common marker":
        scores = [-1 if row % 5 == 0 else score for row, score in enumerate(scores)]
    elif change == "near value":
        scores[10] = 11
    else:
        scores[10] = 100
    with caplog.at_level(logging.WARNING, logger="pyanimf"):
        load_ratings(write_scores(tmp_path, scores), unrated=None)
    assert not caplog.records


def score_extremes_reference(scores):
    values = scores[~np.isnan(scores)]
    result = {"scored": len(values)}
    if len(values) == 0:
        return result
    for name, extreme in (("highest", values.max()), ("lowest", values.min())):
        others = values[values != extreme]
        next_value = None
        if len(others) > 0:
            next_value = float(others.max() if name == "highest" else others.min())
        result[name] = {
            "value": float(extreme),
            "count": int(np.count_nonzero(values == extreme)),
            "first_row": int(np.flatnonzero(scores == extreme)[0]),
            "next": next_value,
        }
    return result


@settings(deadline=None, max_examples=150)
@given(
    scores=st.lists(st.sampled_from([np.nan, -1.0, 0.0, 1.0, 2.5, 7.0, 10.0, 100.0]), max_size=40),
    threads=st.integers(1, 3),
)
def test_score_extremes_matches_reference(scores, threads):
    array = np.array(scores, dtype=np.float32)
    assert _core.score_extremes(array, threads=threads) == score_extremes_reference(array)


def test_score_extremes_strided_input():
    scores = np.array([[5, 0], [1, 0], [5, 0], [3, 0]], dtype=np.float32)[:, 0]
    extremes = _core.score_extremes(scores)
    assert extremes["highest"] == {"value": 5.0, "count": 2, "first_row": 0, "next": 3.0}
    assert extremes["lowest"] == {"value": 1.0, "count": 1, "first_row": 1, "next": 3.0}


def test_model_clips_to_training_score_range():
    ratings = Ratings.from_arrays([1, 1, 2, 2, 3], [10, 20, 10, 30, 20], [2.5, 3.0, 4.5, 1.0, 5.0])
    model = Model(dim=4, epochs=5).fit(ratings)
    predictions = model.predict([1, 2, 3, 3], [30, 20, 10, 30])
    assert predictions.min() >= 1.0
    assert predictions.max() <= 5.0


# ---- Tiny data sets: single rating, identical scores, a user with one rating -------------------


def test_fit_single_rating():
    model = Model(dim=4, epochs=3).fit(load_ratings(DATA / "single_rating.csv"), validation=0.1)
    assert model.predict([1], [10]).tolist() == [8.0]
    assert model.recommend(1, n=5) == []
    assert model.similar_items(10, n=5) == []


def test_fit_single_rating_validation_takes_all():
    with pytest.raises(ValueError, match="validation fraction held out every score"):
        Model(dim=4, epochs=1).fit(load_ratings(DATA / "single_rating.csv"), validation=0.9)


def test_fit_identical_scores_predicts_that_score():
    ratings = load_ratings(DATA / "identical_scores.csv")
    for output in ("identity", "sigmoid"):
        model = Model(dim=4, epochs=5, output=output).fit(ratings, validation=0.2)
        predictions = model.predict(model.user_ids[[0, 1, 2]], model.anime_ids[[0, 1, 2]])
        assert np.all(np.isfinite(predictions))
        np.testing.assert_array_equal(predictions, [7.0, 7.0, 7.0])
        assert all(np.isfinite(record.train_rmse) for record in model.history_)


def test_split_one_rating_user_disjoint_and_complete():
    ratings = load_ratings(DATA / "one_rating_user.csv")
    for seed in range(20):
        train, validation = ratings.split(0.3, seed=seed)
        train_rows = set(zip(train.user_ids.tolist(), train.anime_ids.tolist()))
        validation_rows = set(zip(validation.user_ids.tolist(), validation.anime_ids.tolist()))
        assert not train_rows & validation_rows
        assert len(train_rows) + len(validation_rows) == len(ratings)


def test_fit_one_rating_user_in_validation_dropped():
    ratings = load_ratings(DATA / "one_rating_user.csv")
    lone = Ratings.from_arrays([6], [10], [9.0])
    model = Model(dim=4, epochs=2).fit(ratings.split(0.0)[0], validation=lone)
    assert model.fit_report_.validation_ratings == 1
    # Held out alone, the same row is dropped, because user 6 has no training score.
    train = Ratings.from_arrays(ratings.user_ids[:-1], ratings.anime_ids[:-1], ratings.scores[:-1])
    model = Model(dim=4, epochs=2).fit(train, validation=lone)
    assert model.fit_report_.validation_ratings == 0
    assert model.fit_report_.validation_dropped == 1


ratings_rows = st.lists(
    st.tuples(st.integers(0, 5), st.integers(0, 5), st.sampled_from([-1.0, 1.0, 5.5, 10.0])),
    min_size=1,
    max_size=30,
)


@settings(deadline=None, max_examples=100)
@given(rows=ratings_rows, fraction=st.sampled_from([0.0, 0.1, 0.5, 0.9]), seed=st.integers(0, 2**32 - 1))
def test_split_property_disjoint_complete(rows, fraction, seed):
    ratings = Ratings.from_arrays(*zip(*rows))
    train, validation = ratings.split(fraction, seed=seed)
    assert len(train) + len(validation) == len(ratings)
    assert not np.isnan(validation.scores).any()
    train_pairs = set(zip(train.user_ids.tolist(), train.anime_ids.tolist()))
    validation_pairs = set(zip(validation.user_ids.tolist(), validation.anime_ids.tolist()))
    assert not train_pairs & validation_pairs
    assert validation.n_rated == round(fraction * ratings.n_rated)


# ---- Ids: few but huge, beyond 2^53, strings, 007 ----------------------------------------------


def test_huge_sparse_ids_small_model(tmp_path):
    base = 2**40
    users = [base + 1, base + 1, base + 7, base + 7, base + 99]
    anime = [base + 5, base + 6, base + 5, base + 8, base + 6]
    model = Model(dim=8, epochs=2).fit(users, anime, [8.0, 6.0, 7.0, 9.0, 5.0])
    assert model.user_factors.shape == (3, 8)
    assert model.anime_factors.shape == (3, 8)
    path = tmp_path / "small.npz"
    model.save(path)
    assert path.stat().st_size < 8 * 1024
    assert set(Model.load(path).user_ids.tolist()) == {base + 1, base + 7, base + 99}


def test_ids_beyond_2_53_stay_distinct_through_save(tmp_path):
    big = 2**53
    model = Model(dim=4, epochs=2).fit([big, big + 1, big, big + 1], [1, 1, 2, 2], [2.0, 9.0, 3.0, 8.0])
    assert len(model.user_ids) == 2
    path = tmp_path / "m.npz"
    model.save(path)
    loaded = Model.load(path)
    assert sorted(loaded.user_ids.tolist()) == [big, big + 1]
    np.testing.assert_array_equal(loaded.predict([big, big + 1], [1, 1]), model.predict([big, big + 1], [1, 1]))


def test_query_leading_zero_string_is_not_integer_id(trained):
    user = int(trained.user_ids[0])
    with pytest.raises(KeyError, match="unknown user id"):
        trained.recommend(f"00{user}")


def test_cli_leading_zero_user_id_is_integer(model_path, capsys):
    user = Model.load(model_path).user_ids[0]
    assert main(["recommend", str(model_path), "--user", f"00{user}", "-n", "2"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2


@pytest.mark.parametrize("bad", [2.5, float("nan"), None, True])
def test_fit_rejects_invalid_id_values(bad):
    with pytest.raises(ValueError, match=r"user_ids\[1\]"):
        Model(dim=4, epochs=1).fit([1, bad], [1, 2], [5.0, 6.0])


# ---- Queries with unknown ids, n beyond the catalogue -----------------------------------------


def test_predict_unknown_ids_counted(trained):
    users = [trained.user_ids[0], -1, -2]
    anime = [trained.anime_ids[0]] * 3
    with pytest.raises(KeyError, match="2 unknown user ids, the first -1 at position 1"):
        trained.predict(users, anime)


@pytest.mark.parametrize("method", ["recommend", "similar_users"])
def test_user_queries_unknown_id_raise(trained, method):
    with pytest.raises(KeyError, match="unknown user id 'nobody': it was not in the training data"):
        getattr(trained, method)("nobody")


def test_similar_items_unknown_id_raises(trained):
    with pytest.raises(KeyError, match="unknown anime id 10000000"):
        trained.similar_items(10_000_000)


def test_evaluate_unknown_rows_counted_metrics_finite(trained):
    known_user, known_anime = trained.user_ids[0], trained.anime_ids[0]
    data = Ratings.from_arrays([known_user, -5, known_user], [known_anime, known_anime, -7], [7.0, 8.0, 9.0])
    result = trained.evaluate(data)
    assert result.rows == 3
    assert result.unknown == 2
    assert np.isfinite(result.rmse)
    assert np.isfinite(result.mae)


def test_evaluate_all_unknown_no_nan(trained):
    result = trained.evaluate(Ratings.from_arrays([-5, -6], [-7, -8], [7.0, 8.0]))
    assert result.rows == 2
    assert result.unknown == 2
    assert result.rmse is None
    assert result.mae is None


def test_evaluate_only_unrated_rows_no_nan(trained):
    result = trained.evaluate(Ratings.from_arrays([trained.user_ids[0]], [trained.anime_ids[0]], [-1.0]))
    assert result.rows == 0
    assert result.rmse is None


def test_predict_empty_query(trained):
    assert trained.predict([], []).shape == (0,)


@pytest.mark.parametrize("method", ["similar_items", "similar_users"])
def test_similar_n_beyond_catalogue_returns_every_other(trained, method):
    ids = trained.anime_ids if method == "similar_items" else trained.user_ids
    result = getattr(trained, method)(ids[0], n=10**9)
    assert len(result) == len(ids) - 1
    assert len({other for other, _ in result}) == len(result)
    assert all(np.isfinite(score) for _, score in result)


def test_recommend_all_n_capped_at_catalogue(trained):
    users, anime, scores = trained.recommend_all(n=10**6, batch_size=64)
    assert anime.shape == (len(trained.user_ids), len(trained.anime_ids))
    # Rows are padded with -1 and NaN only after the user's real candidates.
    padded = anime < 0
    assert np.array_equal(padded, np.isnan(scores))
    assert not np.any(padded[:, :-1] & ~padded[:, 1:])


# ---- Divergence -------------------------------------------------------------------------------


def test_divergence_detected_in_first_epoch(small_ratings):
    records = []
    model = Model(dim=16, epochs=5, learning_rate=1e3)
    with pytest.raises(TrainingDivergedError, match=r"diverged in epoch 1: .*lower learning_rate \(now 1000\)"):
        model.fit(small_ratings, callback=records.append)
    assert records == []
    with pytest.raises(RuntimeError, match="not trained yet"):
        model.predict([1], [1])


def test_divergence_huge_dim(small_ratings):
    with pytest.raises(TrainingDivergedError, match="lower learning_rate"):
        Model(dim=8192, epochs=2, learning_rate=1.0).fit(small_ratings)


def test_huge_dim_default_learning_rate_finite():
    # Initial embeddings have standard deviation init_std / sqrt(dim), so a
    # large dim alone does not make the first steps larger.
    ratings = load_ratings(DATA / "one_rating_user.csv")
    model = Model(dim=16384, epochs=3).fit(ratings)
    assert all(np.isfinite(record.train_rmse) for record in model.history_)


def test_refit_after_divergence_leaves_model_untrained(small_ratings):
    model = Model(dim=8, epochs=1, learning_rate=1e3)
    model.learning_rate = 0.01
    model.fit(small_ratings)
    model.learning_rate = 1e3
    with pytest.raises(TrainingDivergedError):
        model.fit(small_ratings)
    with pytest.raises(RuntimeError, match="not trained yet"):
        model.recommend(small_ratings.user_ids[0])


def test_cli_divergence_names_option_writes_no_file(tmp_path, capsys):
    output = tmp_path / "model.npz"
    output.write_bytes(b"previous model")
    code = main(["fit", "--lr", "1e6", "--dim", "16", "--epochs", "3", "--quiet", "-o", str(output)])
    assert code == 1
    error = capsys.readouterr().err
    assert "training diverged in epoch 1" in error
    assert "--lr" in error
    assert "no model was saved" in error
    assert output.read_bytes() == b"previous model"
    assert [path.name for path in tmp_path.iterdir()] == ["model.npz"]


# ---- Saving --------------------------------------------------------------------------------------


def test_save_failure_keeps_existing_file(trained, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    trained.save(path)
    before = path.read_bytes()

    def fail_halfway(stream, members, stored_as):
        stream.write(b"PK\x03\x04 half an archive")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(persistence, "_write_archive", fail_halfway)
    with pytest.raises(OSError, match=r"No space left on device \(the existing file was left as it was\)") as error:
        trained.save(path)
    assert error.value.filename == str(path)
    assert path.read_bytes() == before
    assert [entry.name for entry in tmp_path.iterdir()] == ["model.npz"]


@pytest.mark.parametrize("existing", [True, False])
def test_save_through_a_symbolic_link_keeps_the_link(trained, tmp_path, existing):
    target = tmp_path / "models" / "model.npz"
    target.parent.mkdir()
    if existing:
        target.write_bytes(b"old")
    link = tmp_path / "current.npz"
    link.symlink_to(target)
    trained.save(link)
    assert link.is_symlink()
    assert Model.load(target).recommend(trained.user_ids[0], n=3) == trained.recommend(trained.user_ids[0], n=3)
    assert [entry.name for entry in target.parent.iterdir()] == ["model.npz"]


def test_save_error_names_target_path(trained, tmp_path, monkeypatch):
    path = tmp_path / "model.npz"

    def read_only(prefix, suffix, dir):
        raise OSError(errno.EROFS, "Read-only file system", str(Path(dir) / f"{prefix}x1y2{suffix}"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(OSError, match="Read-only file system") as error:
        trained.save(path)
    assert error.value.filename == str(path)
    assert not path.exists()


# ---- Loading: every check of the model-file loader ----------------------------------------------


def read_members(path):
    with np.load(path) as archive:
        return {name: archive[name] for name in archive.files}


def header_of(members):
    return json.loads(members["header"].tobytes())


def with_header(members, header):
    changed = dict(members)
    changed["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    return changed


def write_members(path, members):
    np.savez(path, **members)
    return path


def header_change(key, value):
    def change(members):
        header = header_of(members)
        target = header
        *parents, last = key.split(".")
        for parent in parents:
            target = target[parent]
        if value is KeyError:
            del target[last]
        else:
            target[last] = value
        return with_header(members, header)

    return change


def array_change(name, make):
    def change(members):
        changed = dict(members)
        if make is KeyError:
            del changed[name]
        else:
            changed[name] = make(members[name])
        return changed

    return change


def with_nan(array):
    changed = array.copy()
    changed.flat[0] = np.nan
    return changed


def with_duplicate_first_id(array):
    changed = array.copy()
    changed[1] = changed[0]
    return changed


def with_bad_indptr(array):
    changed = array.copy()
    changed[1] = changed[-1] + 5
    return changed


LOADER_CHECKS = [
    # (case, change to the archive's members, piece of the message)
    ("no header", array_change("header", KeyError), "no header member"),
    ("header dtype", array_change("header", lambda a: a.astype(np.int16)), "model header is corrupt"),
    ("header not JSON", array_change("header", lambda a: np.frombuffer(b"{oops", np.uint8)), "header is corrupt"),
    ("header not UTF-8", array_change("header", lambda a: np.frombuffer(b"\xff\xfe", np.uint8)), "corrupt"),
    ("header a list", array_change("header", lambda a: np.frombuffer(b"[1]", np.uint8)), "not a pyanimf model"),
    ("format name", header_change("format", "other-model"), "format is not 'pyanimf-model'"),
    ("newer version", header_change("version", 5), "version 5 is not supported (this pyanimf reads versions 1 to 4); upgrade"),
    ("version zero", header_change("version", 0), "version 0 is not supported (this pyanimf reads versions 1 to 4); the file is corrupt"),
    ("version text", header_change("version", "1"), "version '1' is not supported"),
    ("version bool", header_change("version", True), "version True is not supported"),
    ("lacks key", header_change("weight", KeyError), "lacks weight"),
    ("lacks setting", header_change("settings.dim", KeyError), "lacks settings.dim"),
    ("settings list", header_change("settings", [1]), "settings and scale must be JSON objects"),
    ("n_users text", header_change("n_users", "300"), "n_users is '300', expected an integer"),
    ("n_users huge", header_change("n_users", 2**40), "n_users is 1099511627776"),
    ("dim zero", header_change("settings.dim", 0), "dim is 0, expected an integer from 1 to 65536"),
    ("scale keys", header_change("scale", {"shift": 1.0}), "scale has keys ['shift']"),
    ("weight text", header_change("weight", "x"), "weight is 'x', expected a finite number"),
    ("weight huge int", header_change("weight", 10**400), "expected a finite number"),
    ("scale NaN", header_change("scale.shift", float("nan")), "scale.shift is nan"),
    ("scale zero", header_change("scale.scale", 0.0), "expected scale > 0"),
    ("low above high", header_change("scale.low", 99.0), "low <= high"),
    ("bad setting", header_change("settings.output", "tanh"), "invalid value in the model file"),
    ("text flag", header_change("settings.early_stopping", "no"), "early_stopping: expected True or False, got 'no'"),
    ("history text", header_change("history", [{"epoch": 1, "train_rmse": "x", "validation_rmse": None,
                                               "seconds": 0.1, "idle_fraction": 0.0}]), "history in the header is corrupt"),
    ("missing array", array_change("seen_anime", KeyError), "lacks the arrays seen_anime"),
    ("shape", array_change("user_bias", lambda a: a[:-1]), "user_bias has shape"),
    ("dtype", array_change("user_factors", lambda a: a.astype(np.float64)), "user_factors has dtype float64"),
    ("id dtype", array_change("anime_ids", lambda a: a.astype(np.float64)), "anime_ids has dtype float64"),
    ("NaN factor", array_change("anime_factors", with_nan), "anime_factors contains NaN"),
    ("duplicate id", array_change("user_ids", with_duplicate_first_id), "invalid value in the model file"),
    ("seen lists", array_change("seen_indptr", with_bad_indptr), "seen-anime lists are inconsistent"),
    ("seen index", array_change("seen_anime", lambda a: a.astype(np.int32) + 10**6), "seen-anime lists are inconsistent"),
    ("seen dtype", array_change("seen_anime", lambda a: a.astype(np.int64)), "seen_anime has dtype int64"),
    ("no user scale", array_change("user_scale", KeyError), "lacks the arrays user_scale"),
    ("no user scale setting", header_change("settings.user_scale", KeyError), "lacks settings.user_scale"),
    ("user scale shape", array_change("user_scale", lambda a: a[:-1]), "user_scale has shape"),
    ("user scale dtype", array_change("user_scale", lambda a: a.astype(np.float64)), "user_scale has dtype float64"),
    ("user scale zero", array_change("user_scale", lambda a: np.zeros_like(a)), "user_scale contains a value that"),
    ("user scale NaN", array_change("user_scale", with_nan), "user_scale contains a value that"),
]


@pytest.mark.parametrize(("case", "change", "piece"), LOADER_CHECKS, ids=[case[0] for case in LOADER_CHECKS])
def test_load_rejects_corrupt_member(model_path, tmp_path, case, change, piece):
    path = write_members(tmp_path / "changed.npz", change(read_members(model_path)))
    with pytest.raises(ModelFileError) as error:
        Model.load(path)
    assert str(path) in str(error.value)
    assert piece in str(error.value)


def test_save_writes_members_in_chunks(trained, tmp_path, monkeypatch):
    # Chunks of 64 bytes split every array, the uint16 conversion included.
    monkeypatch.setattr(persistence, "_WRITE_CHUNK_BYTES", 64)
    path = tmp_path / "chunked.npz"
    trained.save(path)
    loaded = Model.load(path)
    np.testing.assert_array_equal(loaded.user_factors, trained.user_factors)
    np.testing.assert_array_equal(loaded.anime_factors, trained.anime_factors)
    np.testing.assert_array_equal(loaded.user_ids, trained.user_ids)
    np.testing.assert_array_equal(read_members(path)["seen_anime"], trained._seen[1])


def test_save_writes_uint16_seen_lists_for_small_catalogues(model_path):
    assert read_members(model_path)["seen_anime"].dtype == np.uint16


def test_save_writes_int32_seen_lists_above_the_limit(trained, tmp_path, monkeypatch):
    monkeypatch.setattr(persistence, "NARROW_SEEN_LIMIT", 2)
    path = tmp_path / "wide.npz"
    trained.save(path)
    assert read_members(path)["seen_anime"].dtype == np.int32
    assert Model.load(path).recommend(trained.user_ids[0], n=5) == trained.recommend(trained.user_ids[0], n=5)


def test_load_reads_version_1_files(model_path, tmp_path, trained):
    members = read_members(model_path)
    members["seen_anime"] = members["seen_anime"].astype(np.int32)
    del members["user_scale"]
    header = header_of(members)
    header["version"] = 1
    del header["settings"]["user_scale"]
    loaded = Model.load(write_members(tmp_path / "version_1.npz", with_header(members, header)))
    user = trained.user_ids[0]
    assert loaded.user_scale is False
    np.testing.assert_array_equal(loaded.user_scales, np.ones(len(trained.user_ids), dtype=np.float32))
    # The scale only multiplies the scores, so the ranking stays the same.
    assert [anime for anime, _ in loaded.recommend(user, n=5)] == [anime for anime, _ in trained.recommend(user, n=5)]


@pytest.mark.parametrize(
    "bad_header",
    [
        b"{'descr': '<f4', 'shape': (3, (",
        b"{'descr': ',f4', 'fortran_order': False, 'shape': (3,), }",
        b"{'descr': '<a8', 'fortran_order': False, 'shape': (3,), }",
    ],
)
def test_load_rejects_npy_header_that_does_not_parse(model_path, tmp_path, bad_header):
    # numpy parses the header with Python's tokenizer: the first raises
    # tokenize.TokenError, the second SyntaxError. The third names a dtype
    # alias that numpy 2 deprecates with a warning.
    path = tmp_path / "bad_header.npz"
    with zipfile.ZipFile(model_path) as source, zipfile.ZipFile(path, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "user_factors.npy":
                text = bad_header.ljust(118) + b"\n"
                data = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + data[128:]
            target.writestr(info.filename, data)
    with pytest.raises(ModelFileError, match="not a readable pyanimf model file"):
        Model.load(path)


def test_load_big_endian_arrays_accepted(model_path, tmp_path, trained):
    members = read_members(model_path)
    members["user_factors"] = members["user_factors"].astype(">f4")
    loaded = Model.load(write_members(tmp_path / "big_endian.npz", members))
    np.testing.assert_array_equal(loaded.user_factors, trained.user_factors)


class WriteFileOnUnpickle:
    """Unpickling this object calls open(path, "w"), which creates the file."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_load_never_unpickles(model_path, tmp_path):
    marker = tmp_path / "code-ran"
    members = read_members(model_path)
    members["user_ids"] = np.array([WriteFileOnUnpickle(marker)] * len(members["user_ids"]), dtype=object)
    path = tmp_path / "pickled.npz"
    np.savez(path, **members)
    assert b"code-ran" in path.read_bytes()
    with pytest.raises(ModelFileError, match="array user_ids has dtype object, which contains Python objects"):
        Model.load(path)
    assert not marker.exists()


def test_load_rejects_pickle_file(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "model.npz"
    path.write_bytes(pickle.dumps(WriteFileOnUnpickle(marker)))
    with pytest.raises(ModelFileError, match="not a readable pyanimf model file"):
        Model.load(path)
    assert not marker.exists()


def test_load_rejects_compressed_archive(model_path, tmp_path):
    path = tmp_path / "compressed.npz"
    np.savez_compressed(path, **read_members(model_path))
    with pytest.raises(ModelFileError, match="is compressed, but pyanimf model files store arrays uncompressed"):
        Model.load(path)


def test_load_rejects_member_larger_than_file(model_path, tmp_path):
    data = bytearray(model_path.read_bytes())
    # Patch the uncompressed size (offset 24) in the central directory entry of that member.
    entry = data.rfind(b"PK\x01\x02", 0, data.rfind(b"user_factors.npy"))
    data[entry + 24 : entry + 28] = (10**9).to_bytes(4, "little")
    path = tmp_path / "lying.npz"
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"array user_factors claims 1000000000 bytes in a \d+-byte file"):
        Model.load(path)


def write_raw_members(path, members, raw=None):
    """Write an uncompressed archive of `members`, with `raw` (name to bytes) as given."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in members.items():
            with archive.open(name + ".npy", "w") as stream:
                if raw and name in raw:
                    stream.write(raw[name])
                else:
                    np.lib.format.write_array(stream, array, allow_pickle=False)
    return path


def npy_bytes(header, data):
    import io

    stream = io.BytesIO()
    np.lib.format.write_array_header_1_0(stream, header)
    return stream.getvalue() + data


def test_load_rejects_shape_larger_than_data(model_path, tmp_path):
    members = read_members(model_path)
    # A shape of 10^12 float32 would need 4 TB; the check must fire before any allocation.
    claim = npy_bytes({"descr": "<f4", "fortran_order": False, "shape": (10**12,)}, b"\0" * 16)
    path = write_raw_members(tmp_path / "shape.npz", members, {"user_bias": claim})
    with pytest.raises(ModelFileError, match=r"user_bias has shape \(1000000000000,\) and dtype float32, so "
                       r"4000000000000 bytes of data, but the archive holds 16"):
        Model.load(path)


def test_load_rejects_npy_data_size_mismatch(model_path, tmp_path):
    members = read_members(model_path)
    extra = npy_bytes(np.lib.format.header_data_from_array_1_0(members["anime_bias"]), members["anime_bias"].tobytes())
    path = write_raw_members(tmp_path / "long.npz", members, {"anime_bias": extra + b"\0\0\0\0"})
    with pytest.raises(ModelFileError, match=r"anime_bias has shape \(\d+,\) and dtype float32, so \d+ bytes"):
        Model.load(path)


def test_load_rejects_unknown_npy_version(model_path, tmp_path):
    path = write_raw_members(tmp_path / "v9.npz", read_members(model_path))
    data = bytearray(path.read_bytes())
    # Rewrite the version bytes after the magic of one member; the CRC then
    # mismatches too, but the version is checked first.
    position = data.index(b"\x93NUMPY", data.index(b"seen_anime.npy"))
    data[position + 6] = 9
    path.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match=r"seen_anime has .npy format version \(9, 0\), expected 1.0 or 2.0"):
        Model.load(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_load_rejects_truncated_at_any_point(model_path, tmp_path, keep):
    data = model_path.read_bytes()
    path = tmp_path / "cut.npz"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelFileError, match="truncated or corrupt"):
        Model.load(path)


def test_cli_corrupt_model_clean_error(model_path, tmp_path, capsys):
    path = tmp_path / "cut.npz"
    path.write_bytes(model_path.read_bytes()[:1000])
    assert main(["recommend", str(path), "--user", "1"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("pyanimf: error: ")
    assert "train and save it again" in error


@pytest.mark.parametrize("anime", ["21", "show21"], ids=["integer ids", "string ids"])
def test_decimal_comma_in_comma_file_rejected(tmp_path, anime):
    # Both the native parser (integer ids) and the Python one (string ids).
    path = tmp_path / "decimal_comma.csv"
    path.write_text(f"user_id,anime_id,rating\n1,20,7\n1,{anime},7,5\n")
    with pytest.raises(RatingsFormatError, match=r"line 3: found 4 fields separated by ',', but the first line has 3"):
        load_ratings(path)


@pytest.mark.parametrize("anime", ["21", "show21"], ids=["integer ids", "string ids"])
def test_field_count_differs_from_first_line(tmp_path, anime):
    path = tmp_path / "missing_timestamp.csv"
    path.write_text(f"user_id,anime_id,rating,timestamp\n1,20,7,100\n1,{anime},8\n")
    with pytest.raises(RatingsFormatError, match=r"line 3: found 3 fields separated by ',', but the first line has 4"):
        load_ratings(path)
