"""Tests of the ratings text parsers: the native one and its pure-Python fallback.

Most tests run on both parsers through the `parse` fixture, because the
fallback promises the same rules and the same error messages.
"""

from __future__ import annotations

import mmap
import mmap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyanimf import _core
from pyanimf.datasets import bundled_ratings_path, read_file_bytes
from pyanimf.errors import RatingsFormatError
from pyanimf.ratings import parse_ratings_text

SOURCE = "test.csv"


def parse_native(data: bytes, unrated: float | None = -1.0):
    try:
        return _core.parse_ratings(data, SOURCE, unrated)
    except _core.RatingsParseError as error:
        raise RatingsFormatError(str(error)) from None


def parse_python(data: bytes, unrated: float | None = -1.0):
    return parse_ratings_text(data, SOURCE, unrated)


@pytest.fixture(params=[parse_native, parse_python], ids=["native", "python"])
def parse(request):
    return request.param


def id_dtype(*id_lists):
    """The dtype the parsers give integer id columns: int32 when every id fits, else int64."""
    limits = np.iinfo(np.int32)
    fits = all(limits.min <= value <= limits.max for ids in id_lists for value in ids)
    return np.int32 if fits else np.int64


def assert_parsed(result, users, anime, scores):
    user_ids, anime_ids, parsed_scores = result
    assert user_ids.dtype == id_dtype(users, anime)
    assert anime_ids.dtype == id_dtype(users, anime)
    assert parsed_scores.dtype == np.float32
    assert user_ids.tolist() == users
    assert anime_ids.tolist() == anime
    np.testing.assert_array_equal(parsed_scores, np.array(scores, dtype=np.float32))


# ---- Layout: header, columns, separators, line ends ---------------------------


def test_header_and_no_header(parse):
    rows = b"1,10,8\n2,20,7\n"
    assert_parsed(parse(b"user_id,anime_id,rating\n" + rows), [1, 2], [10, 20], [8, 7])
    assert_parsed(parse(rows), [1, 2], [10, 20], [8, 7])


def test_header_columns_any_order(parse):
    data = b"rating,anime_id,user_id\n8,10,1\n7,20,2\n"
    assert_parsed(parse(data), [1, 2], [10, 20], [8, 7])


def test_header_extra_timestamp_column(parse):
    data = b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n"
    assert_parsed(parse(data), [1, 1], [31, 1029], [2.5, 3.0])


def test_header_names_case_insensitive(parse):
    data = b"USERNAME,Item_ID,My_Score\n1,10,8\n"
    assert_parsed(parse(data), [1], [10], [8])


@pytest.mark.parametrize(
    "header",
    [b"uid,iid,score", b"user,anime,rating", b"user_id,item,rating_value", b"userId,animeId,score"],
)
def test_header_accepted_names(parse, header):
    assert_parsed(parse(header + b"\n3,4,5\n"), [3], [4], [5])


@pytest.mark.parametrize("separator", [b",", b"\t", b";", b"::"], ids=["comma", "tab", "semicolon", "colons"])
def test_separators(parse, separator):
    data = separator.join([b"user_id", b"anime_id", b"rating"]) + b"\n" + separator.join([b"1", b"10", b"8.5"])
    assert_parsed(parse(data), [1], [10], [8.5])


def test_separator_movielens_dat(parse):
    data = b"1::1193::5::978300760\n1::661::3::978302109\n"
    assert_parsed(parse(data), [1, 1], [1193, 661], [5, 3])


def test_utf8_bom_skipped(parse):
    assert_parsed(parse(b"\xef\xbb\xbfuser_id,anime_id,rating\n1,10,8\n"), [1], [10], [8])
    assert_parsed(parse(b"\xef\xbb\xbf1,10,8\n"), [1], [10], [8])


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_line_ends(parse, line_end):
    data = line_end.join([b"user_id,anime_id,rating", b"1,10,8", b"2,20,-1", b"3,30,6"]) + line_end
    users, anime, scores = parse(data)
    assert users.tolist() == [1, 2, 3]
    assert anime.tolist() == [10, 20, 30]
    assert scores[0] == 8
    assert np.isnan(scores[1])
    assert scores[2] == 6


def test_no_final_newline(parse):
    assert_parsed(parse(b"user_id,anime_id,rating\n1,10,8\n2,20,7"), [1, 2], [10, 20], [8, 7])
    assert_parsed(parse(b"1,10,8\r\n2,20,7"), [1, 2], [10, 20], [8, 7])


def test_blank_lines_skipped(parse):
    data = b"\n  \nuser_id,anime_id,rating\n\n1,10,8\n   \n\r\n2,20,7\n\n"
    assert_parsed(parse(data), [1, 2], [10, 20], [8, 7])


@pytest.mark.parametrize("separator", [b",", b"\t"], ids=["comma", "tab"])
def test_tab_only_lines_skipped(parse, separator):
    rows = [b"1" + separator + b"10" + separator + b"8", b"\t", b" \t ", b"2" + separator + b"20" + separator + b"7"]
    assert_parsed(parse(b"\t\n" + b"\n".join(rows) + b"\n\t"), [1, 2], [10, 20], [8, 7])


def test_spaces_around_fields_trimmed(parse):
    data = b" user_id , anime_id , rating \n 1 , 10 ,  8.5 \n2,20,7   \n"
    assert_parsed(parse(data), [1, 2], [10, 20], [8.5, 7])


def test_quoted_fields(parse):
    data = b'"user_id","anime_id","rating"\n"1","10","8"\n'
    assert_parsed(parse(data), [1], [10], [8])


def test_empty_and_header_only(parse):
    for data in [b"", b"\n\n  \n", b"\xef\xbb\xbf", b"user_id,anime_id,rating\n", b"user_id,anime_id,rating"]:
        users, anime, scores = parse(data)
        assert len(users) == 0
        assert len(anime) == 0
        assert len(scores) == 0
        assert scores.dtype == np.float32


# ---- Ids ------------------------------------------------------------------------


def test_ids_beyond_float_precision(parse):
    big = 2**53 + 1
    data = f"{big},{2**63 - 1},5\n{-(2**63)},{big + 2},6\n".encode()
    assert_parsed(parse(data), [big, -(2**63)], [2**63 - 1, big + 2], [5, 6])


def test_ids_negative_and_leading_zeros(parse):
    assert_parsed(parse(b"-5,-0,8\n007,0010,7\n"), [-5, 7], [0, 10], [8, 7])


def test_ids_long_leading_zeros(parse):
    assert_parsed(parse(b"00000000000000000000000001,2,8\n"), [1], [2], [8])


@pytest.mark.parametrize("value", ["2.5", "2.0", "-3.25"])
def test_float_formatted_id_rejected(parse, value):
    with pytest.raises(RatingsFormatError) as error:
        parse(f"user_id,anime_id,rating\n1,10,8\n{value},10,8\n".encode())
    message = str(error.value)
    assert "test.csv, line 3, column 'user_id'" in message
    assert f"float-formatted id '{value}'" in message
    assert "ids must be integers or names" in message


def test_float_formatted_anime_id_rejected(parse):
    with pytest.raises(RatingsFormatError, match=r"line 1, column 2 \(anime id\): float-formatted id '10\.0'"):
        parse(b"1,10.0,8\n")


@pytest.mark.parametrize("value", ["9223372036854775808", "-9223372036854775809", "99999999999999999999"])
def test_id_out_of_int64_range(parse, value):
    with pytest.raises(RatingsFormatError, match=rf"line 1, column 1 \(user id\): id '{value}' is outside the 64-bit"):
        parse(f"{value},1,8\n".encode())


def test_missing_id(parse):
    with pytest.raises(RatingsFormatError, match=r"line 2, column 'anime_id': missing anime id \(empty field\)"):
        parse(b"user_id,anime_id,rating\n1, ,8\n")


def test_native_string_id_raises_non_integer(parse):
    with pytest.raises(_core.NonIntegerIdError, match=r"line 2, column 'user_id': user id 'alice' is not an integer"):
        _core.parse_ratings(b"user_id,anime_id,rating\nalice,10,8\n", SOURCE, -1.0)
    assert issubclass(_core.NonIntegerIdError, ValueError)
    assert issubclass(_core.RatingsParseError, ValueError)


def test_python_string_ids():
    data = b"username,anime_id,my_score\nalice,10,8\nbob,20,-1\n42,10,7\n"
    users, anime, scores = parse_python(data)
    assert users.dtype.kind == "U"
    assert users.tolist() == ["alice", "bob", "42"]
    assert anime.dtype == np.int32
    assert anime.tolist() == [10, 20, 10]
    assert scores[0] == 8
    assert np.isnan(scores[1])


@pytest.mark.parametrize(
    ("wide_id", "dtype"),
    [(2**31 - 1, np.int32), (-(2**31), np.int32), (2**31, np.int64), (-(2**31) - 1, np.int64)],
)
def test_id_width_follows_the_largest_id(parse, wide_id, dtype):
    data = f"1,10,8\n2,{wide_id},7\n".encode()
    assert_parsed(parse(data), [1, 2], [10, wide_id], [8, 7])
    assert parse(data)[0].dtype == dtype


def test_python_parser_widens_only_integer_columns():
    users, anime, _ = parse_python(f"alice,{2**40},8\nbob,3,7\n".encode())
    assert users.dtype.kind == "U"
    assert anime.dtype == np.int64
    assert anime.tolist() == [2**40, 3]


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_late_wide_id_widens_all_chunks(threads):
    lines = [f"{user},{user % 7},5" for user in range(400)]
    lines[350] = f"350,{2**40},5"
    result = _core.parse_ratings(("\n".join(lines) + "\n").encode(), SOURCE, -1.0, threads=threads, chunks=4)
    users, anime, _ = result
    assert users.dtype == np.int64
    assert anime.dtype == np.int64
    assert users.tolist() == list(range(400))
    assert anime[350] == 2**40
    assert anime[349] == 349 % 7


def test_error_before_wide_id_reported():
    lines = [f"{user},1,5" for user in range(400)]
    lines[50] = "50,1,bad"
    lines[350] = f"350,{2**40},5"
    with pytest.raises(_core.RatingsParseError, match="line 51"):
        _core.parse_ratings(("\n".join(lines) + "\n").encode(), SOURCE, -1.0, threads=2, chunks=4)


def test_error_after_wide_id_reported():
    lines = [f"{user},1,5" for user in range(400)]
    lines[10] = f"10,{2**40},5"
    lines[20] = "20,1,bad"
    with pytest.raises(_core.RatingsParseError, match="line 21"):
        _core.parse_ratings(("\n".join(lines) + "\n").encode(), SOURCE, -1.0, threads=2, chunks=4)


def test_python_string_ids_headerless():
    users, anime, scores = parse_python(b"alice,naruto,8\nbob,bleach,7\n")
    assert users.tolist() == ["alice", "bob"]
    assert anime.tolist() == ["naruto", "bleach"]
    assert scores.tolist() == [8, 7]


def test_python_quoted_string_id_with_separator():
    users, anime, _ = parse_python(b'user,anime,score\n"Smith, Jo",1,8\n')
    assert users.tolist() == ["Smith, Jo"]
    assert anime.tolist() == [1]


# ---- Scores and the unrated marker -----------------------------------------------


def test_unrated_marker_becomes_nan(parse):
    users, _, scores = parse(b"1,10,-1\n1,11,8\n1,12,-1.0\n")
    assert np.isnan(scores[0])
    assert scores[1] == 8
    assert np.isnan(scores[2])
    assert len(users) == 3


def test_unrated_none_keeps_marker(parse):
    _, _, scores = parse(b"1,10,-1\n1,11,8\n", unrated=None)
    assert scores.tolist() == [-1, 8]


def test_unrated_custom_marker(parse):
    _, _, scores = parse(b"1,10,0\n1,11,-1\n1,12,0.5\n", unrated=0.5)
    assert scores[0] == 0
    assert scores[1] == -1
    assert np.isnan(scores[2])


def test_unrated_marker_compared_exactly(parse):
    _, _, scores = parse(b"1,10,-1.0000001\n", unrated=-1.0)
    assert not np.isnan(scores[0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7.5", 7.5),
        ("8.25", 8.25),
        ("0.1", 0.1),
        (".5", 0.5),
        ("5.", 5.0),
        ("+6", 6.0),
        ("1e1", 10.0),
        ("2.5E-1", 0.25),
        ("3.14159265358979", 3.14159265358979),
        ("-0", 0.0),
        ("1e-40", 1e-40),
    ],
)
def test_score_decimal_forms(parse, text, expected):
    _, _, scores = parse(f"1,10,{text}\n".encode(), unrated=None)
    assert scores[0] == np.float32(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("abc", "invalid score 'abc'"),
        ("8x", "invalid score '8x'"),
        ("1e", "invalid score '1e'"),
        ("", r"missing score \(empty field\)"),
        ("nan", "score 'nan' is not a finite number"),
        ("inf", "score 'inf' is not a finite number"),
        ("-Infinity", "score '-Infinity' is not a finite number"),
        ("1e39", "score '1e39' is out of range for a 32-bit float"),
        ("1e400", "score '1e400' is out of range for a 32-bit float"),
        ("1e-50", "score '1e-50' is out of range for a 32-bit float"),
    ],
)
def test_score_errors(parse, text, problem):
    data = f"user_id,anime_id,rating\n1,10,8\n\n1,11,{text}\n1,12,7\n".encode()
    with pytest.raises(RatingsFormatError, match=rf"^test\.csv, line 4, column 'rating': {problem}; scores must be"):
        parse(data)


def test_score_error_hint_without_marker(parse):
    with pytest.raises(RatingsFormatError, match=r"no unrated marker is set, so every line needs a score"):
        parse(b"1,10,x\n", unrated=None)


def test_score_error_hint_names_marker(parse):
    with pytest.raises(RatingsFormatError, match=r"and 0 marks an anime on the list without a score"):
        parse(b"1,10,x\n", unrated=0.0)


def test_score_decimal_comma_hint(parse):
    with pytest.raises(RatingsFormatError, match=r"invalid score '7,5'.*write decimals with '\.', not ','"):
        parse(b"1;10;8\n1;11;7,5\n")


# ---- Format errors ----------------------------------------------------------------


def test_utf16_with_bom_rejected(parse):
    for encoding in ["utf-16", "utf-16-be"]:
        data = "\ufeffuser_id,anime_id,rating\n1,10,8\n".encode(encoding)
        with pytest.raises(RatingsFormatError, match=r"^test\.csv looks like UTF-16 .*; save it as UTF-8$"):
            parse(data)


def test_utf16_without_bom_rejected(parse):
    data = "user_id,anime_id,rating\n1,10,8\n".encode("utf-16-le")
    with pytest.raises(RatingsFormatError, match=r"looks like UTF-16 \(it contains NUL bytes\); save it as UTF-8"):
        parse(data)


def test_too_few_fields(parse):
    with pytest.raises(
        RatingsFormatError, match=r"^test\.csv, line 3: expected at least 3 fields separated by ',', found 2;"
    ):
        parse(b"user_id,anime_id,rating\n1,10,8\n1,10\n")


def test_too_few_fields_for_header_columns(parse):
    with pytest.raises(RatingsFormatError, match=r"line 2: expected at least 4 fields separated by tab, found 3"):
        parse(b"user\tanime\tstamp\trating\n1\t2\t3\n")


def test_too_few_fields_reported_before_bad_value(parse):
    with pytest.raises(RatingsFormatError, match=r"line 1: expected at least 3 fields"):
        parse(b"2.5,x\n")


def test_mixed_separators(parse):
    with pytest.raises(
        RatingsFormatError,
        match=r"^test\.csv, line 3: this line is separated by ';' but the first line by ','; use one separator",
    ):
        parse(b"user_id,anime_id,rating\n1,10,8\n1;11;7\n")


def test_mixed_separators_double_colon(parse):
    with pytest.raises(RatingsFormatError, match=r"line 2: this line is separated by tab but the first line by '::'"):
        parse(b"1::10::8\n1\t11\t7\n")


def test_header_unrecognised(parse):
    with pytest.raises(RatingsFormatError) as error:
        parse(b"who,what,stars\n1,10,8\n")
    message = str(error.value)
    assert message.startswith("test.csv, line 1: the header 'who', 'what', 'stars' has no user id, anime id or score")
    for name in ["user_id", "username", "anime_id", "movieId", "iid", "rating", "my_score", "rating_value"]:
        assert name in message
    assert "remove the header line" in message


def test_header_missing_score_column(parse):
    with pytest.raises(RatingsFormatError, match=r"the header 'user_id', 'anime_id', 'stars' has no score column\."):
        parse(b"user_id,anime_id,stars\n1,10,8\n")


def test_header_duplicate_column(parse):
    with pytest.raises(
        RatingsFormatError,
        match=r"line 1: the header names the user id column twice \('user_id' in column 1 and 'uid' in column 4\)",
    ):
        parse(b"user_id,anime_id,rating,uid\n1,10,8,1\n")


def test_no_separator(parse):
    with pytest.raises(RatingsFormatError, match=r"^test\.csv, line 2: no separator found in 'user_id anime_id'"):
        parse(b"\nuser_id anime_id\n1 10 8\n")


def test_first_line_with_bad_score_is_data(parse):
    with pytest.raises(RatingsFormatError, match=r"line 1, column 3 \(score\): score 'nan' is not a finite number"):
        parse(b"1,10,nan\n")


def test_error_value_truncated(parse):
    long_value = "x" * 100
    with pytest.raises(RatingsFormatError) as error:
        parse(f"1,10,{long_value}\n".encode())
    assert f"'{'x' * 40}...'" in str(error.value)
    assert "x" * 41 not in str(error.value)


def test_error_value_control_characters_escaped(parse):
    with pytest.raises(RatingsFormatError, match=r"invalid score '8\\x07'"):
        parse(b"1,10,8\x07\n")


def test_error_line_numbers_count_cr_only(parse):
    with pytest.raises(RatingsFormatError, match=r"line 4, column 3 \(score\)"):
        parse(b"1,10,8\r1,11,7\r\r1,12,bad\r")


# ---- Both parsers agree -------------------------------------------------------------

BAD_INPUTS = [
    b"user_id,anime_id,rating\n1,10,abc\n",
    b"user_id;anime_id;rating\n1;10;7,5\n",
    b"1,10,8\n1,11\n",
    b"1,10,8\n1;11;8\n",
    b"a,b,c\n1,2,3\n",
    b"user_id,anime_id,stars\n",
    b"uid,iid,score,user\n",
    b"1,2.5,8\n",
    b"1,99999999999999999999,8\n",
    b"1,10,\n",
    b"1,10,1e39\n",
    b"1,10,-inf\n",
    b"just one field\n",
    b"\xff\xfe\x00\x00",
    b"1,10,\xc3\xa9t\xc3\xa9\n",
]


@pytest.mark.parametrize("data", BAD_INPUTS, ids=range(len(BAD_INPUTS)))
def test_parsers_same_error_message(data):
    with pytest.raises(RatingsFormatError) as native:
        parse_native(data)
    with pytest.raises(RatingsFormatError) as python:
        parse_python(data)
    assert str(native.value) == str(python.value)


def test_parsers_same_result_bundled_sample():
    data = read_file_bytes(bundled_ratings_path(), "rating.csv.gz")
    data = data[: data.index(b"\n", 200_000) + 1]
    native = parse_native(data)
    python = parse_python(data)
    for native_column, python_column in zip(native, python):
        np.testing.assert_array_equal(native_column, python_column)


# ---- Buffers and memory ownership ------------------------------------------------------


def test_native_accepts_buffer_types(tmp_path):
    data = b"user_id,anime_id,rating\n1,10,8\n2,20,-1\n"
    path = tmp_path / "r.csv"
    path.write_bytes(data)
    with open(path, "rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        results = [
            _core.parse_ratings(buffer, SOURCE, -1.0)
            for buffer in [data, bytearray(data), memoryview(data), mapped]
        ]
    for users, anime, scores in results:
        assert users.tolist() == [1, 2]
        assert anime.tolist() == [10, 20]
        assert scores[0] == 8


def test_native_rejects_non_contiguous_buffer():
    strided = memoryview(b"1,10,8\n" * 2)[::2]
    with pytest.raises(TypeError, match="contiguous bytes-like"):
        _core.parse_ratings(strided, SOURCE, -1.0)


def test_native_rejects_str_data():
    with pytest.raises(TypeError):
        _core.parse_ratings("1,10,8\n", SOURCE, -1.0)


def test_native_rejects_nan_marker():
    with pytest.raises(ValueError, match="unrated must be a finite number or None"):
        _core.parse_ratings(b"1,10,8\n", SOURCE, float("nan"))


def test_native_arrays_own_memory():
    data = bytearray(b"1,10,8\n2,20,7\n")
    users, anime, scores = _core.parse_ratings(data, SOURCE, -1.0)
    data[:] = b"9" * len(data)
    del data
    assert users.base is not None
    assert not users.flags.owndata
    assert users.tolist() == [1, 2]
    assert anime.tolist() == [10, 20]
    assert scores.tolist() == [8, 7]


# ---- Property: random valid rows round-trip exactly -----------------------------------

int64s = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scores32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
rows_strategy = st.lists(st.tuples(int64s, int64s, scores32), min_size=1, max_size=50)


@settings(deadline=None, max_examples=200)
@given(
    rows=rows_strategy,
    separator=st.sampled_from([",", "\t", ";", "::"]),
    line_end=st.sampled_from(["\n", "\r\n", "\r"]),
    header=st.booleans(),
    final_newline=st.booleans(),
    spaces=st.booleans(),
    unrated=st.sampled_from([None, -1.0, 0.0]),
)
def test_parser_round_trip_property(rows, separator, line_end, header, final_newline, spaces, unrated):
    pad = " " if spaces else ""
    lines = [separator.join(["user_id", "anime_id", "rating"])] if header else []
    for user, anime, score in rows:
        fields = [str(user), str(anime), str(np.float32(score))]
        lines.append(separator.join(pad + field + pad for field in fields))
    text = line_end.join(lines) + (line_end if final_newline else "")
    data = text.encode()

    expected_scores = np.array([score for _, _, score in rows], dtype=np.float32)
    if unrated is not None:
        expected_scores[expected_scores == unrated] = np.nan
    for parser in (parse_native, parse_python):
        users, anime, scores = parser(data, unrated=unrated)
        assert users.tolist() == [row[0] for row in rows]
        assert anime.tolist() == [row[1] for row in rows]
        np.testing.assert_array_equal(scores, expected_scores)


def test_native_parallel_calls_agree():
    data = read_file_bytes(bundled_ratings_path(), "rating.csv.gz")
    expected = parse_native(data)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: parse_native(data), range(4)))
    for result in results:
        for column, expected_column in zip(result, expected):
            np.testing.assert_array_equal(column, expected_column)


# ---- Chunks and threads ------------------------------------------------------------------------
#
# The native parser cuts the data lines into chunks at line starts and parses them on threads.
# Every chunk count and thread count must give the result, or the error, of one chunk.


def native_outcome(data: bytes, unrated: float | None = -1.0, **options):
    """Return ("ok", users, anime, score bytes) or (error type name, message) of the native parser."""
    try:
        users, anime, scores = _core.parse_ratings(data, SOURCE, unrated, **options)
    except (_core.RatingsParseError, _core.NonIntegerIdError) as error:
        return type(error).__name__, str(error)
    # Bytes, so that NaN compares equal to NaN and -0.0 differs from 0.0.
    return "ok", users.tolist(), anime.tolist(), scores.tobytes()


def assert_same_for_every_chunk_count(data: bytes, unrated: float | None = -1.0):
    """Check every chunk count from 1 to one past the byte count, on 1 and 2 threads."""
    expected = native_outcome(data, unrated)
    for chunks in range(1, len(data) + 2):
        for threads in (1, 2):
            outcome = native_outcome(data, unrated, threads=threads, chunks=chunks)
            assert outcome == expected, f"chunks={chunks}, threads={threads}"
    return expected


@pytest.mark.parametrize("line_end", [b"\n", b"\r\n", b"\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize("header", [False, True], ids=["no-header", "header"])
@pytest.mark.parametrize("final_newline", [False, True], ids=["no-final", "final"])
def test_chunks_cut_at_every_position(line_end, header, final_newline):
    lines = [b"user_id,anime_id,rating"] if header else []
    lines += [b"1,10,8", b"1,11,-1", b"", b"  ", b"2,10,7.5", b"3,12,10"]
    data = line_end.join(lines) + (line_end if final_newline else b"")
    outcome = assert_same_for_every_chunk_count(data)
    assert outcome[0] == "ok"
    assert outcome[1] == [1, 1, 2, 3]
    assert outcome[2] == [10, 11, 10, 12]
    np.testing.assert_array_equal(np.frombuffer(outcome[3], np.float32), [8, np.nan, 7.5, 10])


@pytest.mark.parametrize(
    "data",
    [
        b"1,10,8\r\n2,20,7\r3,30,6\n\n\r\n4,40,5\r\r5,50,4",  # all three line ends mixed, with blank lines
        b"\r\n\r\nuser_id,anime_id,rating\r\n1,10,8\r\n",  # blank lines before the header
        b"\xef\xbb\xbf1::10::8\r2::20::7\r",  # BOM and a two-character separator
        b"userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,1029,3.0,1260759179\n",  # an ignored column
        b"1,10,8\r\n\r\n2,20,7\r3,30,6\n4,40,oops\r\n5,50,4",  # an error after mixed line ends
        b"1,10,8\r2,20\r3,30,6\r",  # too few fields
        b"1,10,8\n2,bob,7\n3,30,x\n",  # a string id before a bad score
        b"1,10,8\n",  # one line
        b"user_id,anime_id,rating\n",  # no data lines
        b"",
    ],
)
def test_chunks_agree_on_layouts(data):
    assert_same_for_every_chunk_count(data)


def test_chunks_second_chunk_error_line():
    good = b"".join(b"%d,10,8\n" % user for user in range(1, 50))
    data = b"user_id,anime_id,rating\n" + good + good + b"7,10,x\n" + good
    # Line 1 is the header, so the bad row is on line 1 + 49 + 49 + 1.
    for threads in (1, 2):
        outcome = native_outcome(data, threads=threads, chunks=2)
        assert outcome[0] == "RatingsParseError"
        assert outcome[1].startswith(f"{SOURCE}, line 100, column 'rating': invalid score 'x'")
        assert outcome == native_outcome(data)


def test_chunks_error_line_counts_crlf_once():
    data = b"1,10,8\r\n2,10,8\r3,10,8\r\n\r\n" * 20 + b"4,10,bad\r\n"
    for chunks in (2, 3, 7):
        outcome = native_outcome(data, threads=2, chunks=chunks)
        assert outcome[0] == "RatingsParseError"
        assert outcome[1].startswith(f"{SOURCE}, line 81, column 3 (score): invalid score 'bad'")


@pytest.mark.parametrize(
    ("first_bad", "second_bad", "expected_type", "expected_start"),
    [
        (b"7,10,x", b"8,10,y", "RatingsParseError", "line 31, column 3 (score): invalid score 'x'"),
        (b"bob,10,8", b"8,10,y", "NonIntegerIdError", "line 31, column 1 (user id): user id 'bob'"),
        (b"7,10,x", b"bob,10,8", "RatingsParseError", "line 31, column 3 (score): invalid score 'x'"),
    ],
    ids=["two-format-errors", "string-id-first", "format-error-first"],
)
def test_chunks_earliest_error_wins(first_bad, second_bad, expected_type, expected_start):
    good = b"1,10,8\n" * 30
    data = good + first_bad + b"\n" + good + good + second_bad + b"\n" + good
    for chunks in (2, 4, 8):
        for threads in (1, 2):
            outcome = native_outcome(data, threads=threads, chunks=chunks)
            assert outcome[0] == expected_type
            assert outcome[1].startswith(f"{SOURCE}, {expected_start}")


def test_chunks_more_than_lines():
    # More chunks than lines leaves most chunks empty.
    data = b"user_id,anime_id,rating\n1,10,8\n2,20,7"
    for chunks in (None, 3, 50, 10**6):
        outcome = native_outcome(data, threads=2, chunks=chunks)
        assert outcome[:3] == ("ok", [1, 2], [10, 20])


def test_chunks_default_split_matches_one_thread(tmp_path):
    # Over 2 MiB of data lines, so that the default cuts one chunk per thread.
    rng = np.random.default_rng(7)
    count = 200_000
    users = np.sort(rng.integers(0, 5_000, count))
    anime = rng.integers(0, 3_000, count)
    scores = rng.integers(-1, 11, count)
    lines = [f"{user},{item},{score}" for user, item, score in zip(users, anime, scores)]
    lines[1000] = ""
    data = ("user_id,anime_id,rating\r\n" + "\r\n".join(lines)).encode()
    assert len(data) > 2 * 2**20
    single_thread = native_outcome(data, threads=1)
    two_threads = native_outcome(data, threads=2)
    assert single_thread[0] == "ok"
    assert len(single_thread[1]) == count - 1
    assert two_threads == single_thread


def _mapped(path):
    """A read-only shared mapping of a file, as load_ratings makes."""
    with open(path, "rb") as file:
        return mmap.mmap(file.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)


@pytest.mark.skipif(not hasattr(mmap, "MAP_SHARED"), reason="needs mmap.MAP_SHARED")
def test_released_chunks_keep_file_intact(tmp_path):
    rng = np.random.default_rng(3)
    lines = [f"{user},{item},{score}" for user, item, score in
             zip(rng.integers(0, 900, 60_000), rng.integers(0, 90, 60_000), rng.integers(-1, 11, 60_000))]
    data = ("user_id,anime_id,rating\n" + "\n".join(lines) + "\n").encode()
    path = tmp_path / "ratings.csv"
    path.write_bytes(data)
    expected = native_outcome(data)
    with _mapped(path) as mapped:
        for chunks in (1, 7, 100, None):
            outcome = native_outcome(mapped, threads=2, chunks=chunks, release_text=True)
            assert outcome == expected, f"chunks={chunks}"
        # Released pages of a file mapping read the file again.
        assert mapped[:] == data
    assert path.read_bytes() == data


@pytest.mark.skipif(not hasattr(mmap, "MAP_SHARED"), reason="needs mmap.MAP_SHARED")
def test_wide_id_after_released_chunks(tmp_path):
    # The parse restarts with 64-bit ids from the first chunk, which was released.
    lines = [f"{user},{user % 7},5" for user in range(20_000)]
    lines[19_000] = f"19000,{2**40},5"
    path = tmp_path / "ratings.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    with _mapped(path) as mapped:
        users, anime, _ = _core.parse_ratings(mapped, SOURCE, -1.0, threads=2, chunks=40, release_text=True)
    assert users.dtype == np.int64
    assert users.tolist() == list(range(20_000))
    assert anime[19_000] == 2**40
    assert anime[18_999] == 18_999 % 7


def test_native_rejects_invalid_threads_chunks():
    with pytest.raises(ValueError, match="threads: expected 1 to 4096, got 0"):
        _core.parse_ratings(b"1,10,8\n", SOURCE, -1.0, threads=0)
    with pytest.raises(ValueError, match="chunks: expected a positive integer or None, got 0"):
        _core.parse_ratings(b"1,10,8\n", SOURCE, -1.0, chunks=0)
