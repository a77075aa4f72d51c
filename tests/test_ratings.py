"""Tests of load_ratings, the Ratings container and the bundled data set."""

from __future__ import annotations

import bz2
import gzip
import logging
import lzma
from pathlib import Path

import numpy as np
import pytest

from pyanimf.datasets import bundled_anime_path, bundled_ratings_path, load_anime_names
from pyanimf.errors import RatingsFormatError
from pyanimf.ratings import Ratings, load_ratings

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
HEAD_2020 = SHARED_DATA / "anime-2020" / "rating_complete_head.csv"
SHARED_RATINGS = SHARED_DATA / "anime" / "rating.csv"

SAMPLE = b"user_id,anime_id,rating\n1,10,8\n1,20,-1\n2,10,6.5\n2,30,9\n3,20,-1\n"


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# ---- Bundled and real data ------------------------------------------------------------


def test_bundled_ratings_counts():
    ratings = load_ratings()
    assert len(ratings) == 520_609
    assert ratings.n_rated == 419_943
    assert len(np.unique(ratings.user_ids)) == 5000
    assert len(np.unique(ratings.anime_ids)) == 7390
    assert ratings.user_ids.dtype == np.int32
    assert ratings.anime_ids.dtype == np.int32
    assert ratings.scores.dtype == np.float32
    assert ratings.source == str(bundled_ratings_path())


def test_bundled_ratings_values():
    ratings = load_ratings()
    rated = ratings.scores[ratings.rated]
    assert rated.min() == 1
    assert rated.max() == 10
    assert np.count_nonzero(rated == 8) == 108_782
    assert float(rated.mean(dtype=np.float64)) == pytest.approx(7.80, abs=0.005)
    assert ratings.user_ids[0] == 1
    assert ratings.anime_ids[0] == 61
    assert ratings.scores[0] == 8


def test_bundled_ratings_unrated_none():
    ratings = load_ratings(unrated=None)
    assert ratings.n_rated == 520_609
    assert np.count_nonzero(ratings.scores == -1) == 100_666


@pytest.mark.skipif(not SHARED_RATINGS.exists(), reason="shared data folder not present")
def test_bundled_matches_shared_csv():
    bundled = load_ratings()
    plain = load_ratings(SHARED_RATINGS)
    np.testing.assert_array_equal(bundled.user_ids, plain.user_ids)
    np.testing.assert_array_equal(bundled.anime_ids, plain.anime_ids)
    np.testing.assert_array_equal(bundled.scores, plain.scores)


@pytest.mark.skipif(not HEAD_2020.exists(), reason="shared data folder not present")
def test_head_2020_file():
    assert not HEAD_2020.read_bytes().endswith(b"\n")
    ratings = load_ratings(HEAD_2020)
    assert len(ratings) == 99_999
    assert ratings.n_rated == 99_999
    assert len(np.unique(ratings.user_ids)) == 575
    assert len(np.unique(ratings.anime_ids)) == 7123
    assert ratings.user_ids[0] == 0
    assert ratings.anime_ids[0] == 430
    assert ratings.scores[0] == 9
    assert (ratings.user_ids[-1], ratings.anime_ids[-1], ratings.scores[-1]) == (664, 23673, 9)


def test_bundled_anime_names():
    names = load_anime_names()
    assert len(names) == 12_294
    assert names[32281] == "Kimi no Na wa."
    assert names[9969] == "Gintama'"
    ratings = load_ratings()
    assert np.isin(np.unique(ratings.anime_ids), list(names)).all()


def test_bundled_paths_exist():
    assert bundled_ratings_path().name == "rating.csv.gz"
    assert bundled_anime_path().name == "anime.csv.gz"
    assert bundled_ratings_path().read_bytes()[:2] == b"\x1f\x8b"


# ---- Files: compression, paths, errors -----------------------------------------------------


def test_load_plain_csv(tmp_path):
    ratings = load_ratings(write(tmp_path, "r.csv", SAMPLE))
    assert ratings.user_ids.tolist() == [1, 1, 2, 2, 3]
    assert ratings.anime_ids.tolist() == [10, 20, 10, 30, 20]
    assert ratings.n_rated == 3
    assert ratings.scores[2] == 6.5


def test_load_accepts_str_path(tmp_path):
    path = write(tmp_path, "r.csv", SAMPLE)
    assert len(load_ratings(str(path))) == 5


def test_load_gzip(tmp_path):
    ratings = load_ratings(write(tmp_path, "r.csv.gz", gzip.compress(SAMPLE)))
    assert ratings.user_ids.tolist() == [1, 1, 2, 2, 3]
    assert ratings.n_rated == 3


def test_load_gzip_detected_by_content(tmp_path):
    ratings = load_ratings(write(tmp_path, "r.csv", gzip.compress(SAMPLE)))
    assert len(ratings) == 5
    plain_named_gz = load_ratings(write(tmp_path, "plain.csv.gz", SAMPLE))
    assert len(plain_named_gz) == 5


def test_load_corrupt_gzip(tmp_path):
    truncated = gzip.compress(SAMPLE * 100)[:60]
    path = write(tmp_path, "r.csv.gz", truncated)
    with pytest.raises(RatingsFormatError, match=r"r\.csv\.gz is not a valid gzip file"):
        load_ratings(path)


@pytest.mark.parametrize(("compress", "name"), [(bz2.compress, "bzip2"), (lzma.compress, "xz")])
def test_load_other_compression_rejected(tmp_path, compress, name):
    path = write(tmp_path, "r.csv", compress(SAMPLE))
    with pytest.raises(RatingsFormatError, match=rf"compressed with {name}, which pyanimf cannot read"):
        load_ratings(path)


def test_load_missing_file(tmp_path):
    path = tmp_path / "nope.csv"
    with pytest.raises(FileNotFoundError, match="nope.csv") as error:
        load_ratings(path)
    assert error.value.filename == str(path)


@pytest.mark.parametrize("content", [b"", b"\n\n", b"user_id,anime_id,rating\n"], ids=["empty", "blank", "header"])
def test_load_no_ratings(tmp_path, content):
    path = write(tmp_path, "r.csv", content)
    with pytest.raises(RatingsFormatError, match=rf"^no ratings in {path}"):
        load_ratings(path)


def test_load_empty_gzip(tmp_path):
    path = write(tmp_path, "r.csv.gz", gzip.compress(b""))
    with pytest.raises(RatingsFormatError, match="no ratings in"):
        load_ratings(path)


def test_load_format_error_names_file_and_line(tmp_path):
    path = write(tmp_path, "bad.csv", b"user_id,anime_id,rating\n1,10,8\n1,11,great\n")
    with pytest.raises(RatingsFormatError) as error:
        load_ratings(path)
    assert str(error.value).startswith(f"{path}, line 3, column 'rating': invalid score 'great'")
    assert isinstance(error.value, ValueError)
    assert error.value.__cause__ is None


def test_load_utf16_rejected(tmp_path):
    path = write(tmp_path, "r.csv", SAMPLE.decode().encode("utf-16"))
    with pytest.raises(RatingsFormatError, match=r"looks like UTF-16 .*save it as UTF-8"):
        load_ratings(path)


@pytest.mark.parametrize("unrated", [float("nan"), float("inf"), "x", True])
def test_load_rejects_invalid_marker(tmp_path, unrated):
    path = write(tmp_path, "r.csv", SAMPLE)
    with pytest.raises(ValueError, match="unrated must be a finite number or None"):
        load_ratings(path, unrated=unrated)


def test_load_custom_marker(tmp_path):
    ratings = load_ratings(write(tmp_path, "r.csv", SAMPLE), unrated=9)
    assert ratings.n_rated == 4
    assert np.isnan(ratings.scores[3])


def test_load_logs_counts(tmp_path, caplog):
    path = write(tmp_path, "r.csv", SAMPLE)
    with caplog.at_level(logging.INFO, logger="pyanimf"):
        load_ratings(path)
    message = caplog.records[-1].getMessage()
    assert "5 rows, 3 rated, 2 unrated, 3 users, 3 anime" in message
    assert str(path) in message


def test_load_threads_same_result(tmp_path, caplog):
    # Over 2 MiB, so that two threads parse a chunk each, with a repeated pair and an
    # isolated score in the second half of the file.
    rng = np.random.default_rng(3)
    count = 250_000
    users = np.sort(rng.integers(0, 8_000, count))
    anime = rng.integers(0, 2_000, count)
    scores = rng.integers(1, 11, count).astype(str)
    scores[200_000] = "100"
    lines = [f"{user},{item},{score}" for user, item, score in zip(users, anime, scores)]
    lines[200_001] = f"{users[200_002]},{anime[200_002]},5"
    path = write(tmp_path, "r.csv", ("user_id,anime_id,rating\n" + "\n".join(lines) + "\n").encode())
    assert path.stat().st_size > 2 * 2**20

    results = []
    for threads in (1, 2):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="pyanimf"):
            ratings = load_ratings(path, threads=threads)
        results.append((ratings, [record.getMessage() for record in caplog.records]))
    (one, one_warnings), (two, two_warnings) = results
    np.testing.assert_array_equal(one.user_ids, two.user_ids)
    np.testing.assert_array_equal(one.anime_ids, two.anime_ids)
    assert one.scores.tobytes() == two.scores.tobytes()
    assert len(one_warnings) == 2
    assert "repeat" in one_warnings[0]
    assert "score 100 is in 1 of" in one_warnings[1]
    assert two_warnings == one_warnings


@pytest.mark.parametrize("threads", [0, -1, 1.5, True])
def test_load_rejects_invalid_threads(tmp_path, threads):
    path = write(tmp_path, "r.csv", SAMPLE)
    with pytest.raises(ValueError, match="threads: expected an integer from 1 to 4096 or None"):
        load_ratings(path, threads=threads)


# ---- String ids through the Python fallback -------------------------------------------------


def test_load_string_ids(tmp_path, caplog):
    data = b"username;anime_id;my_score;status\r\nkaito;10;8;2\r\nmei;20;0;1\r\nkaito;30;7.5;2\r\n"
    with caplog.at_level(logging.INFO, logger="pyanimf"):
        ratings = load_ratings(write(tmp_path, "list.csv", data), unrated=0)
    assert ratings.user_ids.dtype.kind == "U"
    assert ratings.user_ids.tolist() == ["kaito", "mei", "kaito"]
    assert ratings.anime_ids.dtype == np.int32
    assert ratings.anime_ids.tolist() == [10, 20, 30]
    assert ratings.scores[0] == 8
    assert np.isnan(ratings.scores[1])
    assert ratings.scores[2] == 7.5
    assert any("slower parser for string ids" in record.getMessage() for record in caplog.records)


def test_load_string_ids_gzip_no_header(tmp_path):
    data = gzip.compress(b"kaito\tnaruto\t8\nmei\tbleach\t-1")
    ratings = load_ratings(write(tmp_path, "list.tsv.gz", data))
    assert ratings.user_ids.tolist() == ["kaito", "mei"]
    assert ratings.anime_ids.tolist() == ["naruto", "bleach"]
    assert ratings.n_rated == 1


def test_load_string_ids_error_after_fallback(tmp_path):
    data = b"user,anime,score\nkaito,10,8\nmei,20,8\nmei,30,\n"
    path = write(tmp_path, "list.csv", data)
    with pytest.raises(RatingsFormatError, match=r"list\.csv, line 4, column 'score': missing score"):
        load_ratings(path)


def test_load_string_ids_float_formatted_rejected(tmp_path):
    path = write(tmp_path, "list.csv", b"user,anime,score\nkaito,10,8\nmei,2.5,8\n")
    with pytest.raises(RatingsFormatError, match=r"line 3, column 'anime': float-formatted id '2\.5'"):
        load_ratings(path)


def test_load_invalid_utf8_in_string_ids(tmp_path):
    path = write(tmp_path, "list.csv", b"user,anime,score\nkaito,10,8\nJos\xe9,10,8\n")
    with pytest.raises(RatingsFormatError, match=r"line 3: invalid UTF-8 byte 0xe9; save the file as UTF-8"):
        load_ratings(path)


# ---- Ratings.from_arrays and construction -------------------------------------------------------


def test_from_arrays_marker_and_dtypes():
    ratings = Ratings.from_arrays([1, 1, 2], np.array([5, 6, 5], dtype=np.int16), [8, -1, 7])
    assert ratings.user_ids.dtype == np.int64
    assert ratings.anime_ids.dtype == np.int64
    # int32 ids are kept as they are, so that large columns are not widened.
    narrow = Ratings.from_arrays(np.array([1, 2], dtype=np.int32), np.array([5, 6], dtype=np.int32), [8, 7])
    assert narrow.user_ids.dtype == np.int32
    assert narrow.anime_ids.dtype == np.int32
    assert ratings.scores.dtype == np.float32
    assert np.isnan(ratings.scores[1])
    assert ratings.n_rated == 2
    assert ratings.source is None


def test_from_arrays_unrated_none():
    ratings = Ratings.from_arrays([1], [2], [-1], unrated=None, source="memory")
    assert ratings.scores.tolist() == [-1]
    assert ratings.source == "memory"


def test_from_arrays_string_ids():
    ratings = Ratings.from_arrays(["a", "b"], ["x", "y"], [1.5, 2.5])
    assert ratings.user_ids.dtype.kind == "U"
    assert ratings.scores.tolist() == [1.5, 2.5]


def test_from_arrays_length_mismatch():
    with pytest.raises(ValueError, match=r"must have the same length, got 3, 2 and 3"):
        Ratings.from_arrays([1, 2, 3], [1, 2], [5, 5, 5])


@pytest.mark.parametrize(("bad", "shown"), [(np.nan, "nan"), (np.inf, "inf")])
def test_from_arrays_non_finite_score(bad, shown):
    with pytest.raises(ValueError, match=rf"scores\[1\] is {shown}; scores must be finite, so write -1"):
        Ratings.from_arrays([1, 2], [1, 2], [5.0, bad])


def test_from_arrays_non_finite_score_without_marker():
    with pytest.raises(ValueError, match=r"scores\[0\] is nan; .*pass unrated=-1"):
        Ratings.from_arrays([1], [1], [np.nan], unrated=None)


def test_from_arrays_rejects_bad_inputs():
    with pytest.raises(ValueError, match="scores must be 1-dimensional"):
        Ratings.from_arrays([1], [1], [[5]])
    with pytest.raises(TypeError, match="scores must be numbers"):
        Ratings.from_arrays([1], [1], ["5"])
    with pytest.raises(ValueError, match=r"user_ids\[0\] is None"):
        Ratings.from_arrays([None], [1], [5])
    with pytest.raises(ValueError, match="bool"):
        Ratings.from_arrays([True], [1], [5])
    with pytest.raises(ValueError, match="out of range for float32"):
        Ratings.from_arrays([1], [1], [1e300])


def test_ratings_direct_construction_validated():
    ids = np.array([1, 2], dtype=np.int64)
    with pytest.raises(TypeError, match="scores must have dtype float32, got float64"):
        Ratings(ids, ids, np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="same length, got 2, 2 and 1"):
        Ratings(ids, ids, np.array([1.0], dtype=np.float32))
    with pytest.raises(TypeError, match="user_ids must have dtype int32, int64 or str, got float64"):
        Ratings(np.array([1.0, 2.0]), ids, np.array([1.0, 2.0], dtype=np.float32))


def test_ratings_repr():
    ratings = Ratings.from_arrays([1, 2], [1, 2], [5, -1], source="x.csv")
    assert repr(ratings) == "Ratings(2 rows, 1 rated, source='x.csv')"


# ---- Ratings.split --------------------------------------------------------------------------------


def make_ratings(rows: int = 1000, unrated_every: int = 4) -> Ratings:
    scores = np.arange(rows, dtype=np.float64) % 10 + 1
    scores[::unrated_every] = -1
    return Ratings.from_arrays(np.arange(rows) // 10, np.arange(rows) % 37, scores, source="made")


def test_split_disjoint_and_complete():
    ratings = make_ratings()
    train, validation = ratings.split(0.2, seed=3)
    assert len(train) + len(validation) == len(ratings)
    assert validation.n_rated == len(validation) == round(0.2 * ratings.n_rated)
    keys = set(zip(ratings.user_ids.tolist(), ratings.anime_ids.tolist()))
    train_keys = set(zip(train.user_ids.tolist(), train.anime_ids.tolist()))
    validation_keys = set(zip(validation.user_ids.tolist(), validation.anime_ids.tolist()))
    assert train_keys.isdisjoint(validation_keys)
    assert train_keys | validation_keys == keys
    assert validation.source == "made"


def test_split_unrated_rows_stay_in_train():
    ratings = make_ratings()
    train, validation = ratings.split(0.5, seed=0)
    assert np.count_nonzero(~train.rated) == np.count_nonzero(~ratings.rated)
    assert validation.rated.all()


def test_split_seeded():
    ratings = make_ratings()
    first = ratings.split(0.1, seed=7)[1]
    again = ratings.split(0.1, seed=7)[1]
    other = ratings.split(0.1, seed=8)[1]
    np.testing.assert_array_equal(first.user_ids, again.user_ids)
    np.testing.assert_array_equal(first.anime_ids, again.anime_ids)
    assert not np.array_equal(first.anime_ids, other.anime_ids) or not np.array_equal(
        first.user_ids, other.user_ids
    )


def test_split_keeps_row_order():
    rows = np.arange(500)
    ratings = Ratings.from_arrays(rows % 7, rows, rows % 10 + 1)
    train, validation = ratings.split(0.3, seed=1)
    assert (np.diff(train.anime_ids) > 0).all()
    assert (np.diff(validation.anime_ids) > 0).all()


def test_split_zero_validation():
    ratings = make_ratings()
    train, validation = ratings.split(0)
    assert train is ratings
    assert len(validation) == 0
    assert validation.scores.dtype == np.float32
    assert validation.user_ids.dtype == np.int64


@pytest.mark.parametrize("fraction", [1, 1.5, -0.1, float("nan")])
def test_split_invalid_fraction(fraction):
    with pytest.raises(ValueError, match=rf"validation must be in \[0, 1\), got {fraction!r}"):
        make_ratings().split(fraction)


def test_split_non_number_fraction():
    with pytest.raises(TypeError, match="validation must be a number"):
        make_ratings().split("0.1")
    with pytest.raises(TypeError, match="validation must be a number"):
        make_ratings().split(True)


# ---- Anime metadata -------------------------------------------------------------------------------------


def test_anime_names_plain_file(tmp_path):
    data = b'anime_id,name,genre\n5,"Cowboy Bebop","Action, Sci-Fi"\n6,Trigun &amp; more,Action\n'
    names = load_anime_names(write(tmp_path, "anime.csv", data))
    assert names == {5: "Cowboy Bebop", 6: "Trigun & more"}


def test_anime_names_missing_name_column(tmp_path):
    path = write(tmp_path, "anime.csv", b"anime_id,genre\n5,Action\n")
    expected = r"has no name column; accepted names \(case-insensitive\): name, title$"
    with pytest.raises(RatingsFormatError, match=expected):
        load_anime_names(path)


def test_anime_names_bad_id(tmp_path):
    path = write(tmp_path, "anime.csv", b"anime_id,name\n5,A\nfive,B\n")
    with pytest.raises(RatingsFormatError, match=r"line 3, column 'anime_id': anime id 'five' is not an integer"):
        load_anime_names(path)


def test_anime_names_duplicate_id(tmp_path):
    path = write(tmp_path, "anime.csv", b"anime_id,name\n5,A\n5,B\n")
    with pytest.raises(RatingsFormatError, match=r"line 3: anime id 5 appears again \(first on line 2\)"):
        load_anime_names(path)


def test_anime_names_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_anime_names(tmp_path / "none.csv")


def test_load_reads_file_that_cannot_be_mapped(tmp_path, monkeypatch):
    # Some files (those in /sys, for one) refuse mmap; they are read instead.
    import pyanimf.ratings as ratings_module

    path = tmp_path / "ratings.csv"
    path.write_text("user_id,anime_id,rating\n1,20,7\n2,20,-1\n2,30,9\n")
    expected = load_ratings(path)

    def fail_to_map(fileno):
        raise OSError(19, "No such device")

    monkeypatch.setattr(ratings_module, "_map_read_only", fail_to_map)
    loaded = load_ratings(path)
    assert loaded.user_ids.tolist() == expected.user_ids.tolist()
    assert loaded.anime_ids.tolist() == expected.anime_ids.tolist()
    assert np.array_equal(loaded.scores, expected.scores, equal_nan=True)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux's /proc")
def test_load_reads_file_reporting_size_zero():
    # /proc files report size 0 but have content, so they are read, not taken as empty.
    with pytest.raises(RatingsFormatError) as error:
        load_ratings("/proc/self/status")
    assert "/proc/self/status, line 1" in str(error.value)
    assert "empty" not in str(error.value)
