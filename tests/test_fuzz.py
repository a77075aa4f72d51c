"""Fuzz tests of the ratings loader, the model-file loader and the core's entry points.

Each test draws inputs with hypothesis and checks that the code either
returns a well-formed result or raises its documented error, never another
exception (and, in a sanitizer build, never a memory error). The default run
is bounded for CI. For a longer run set PYANIMF_FUZZ_EXAMPLES, for example
to 20000; docs/bad-input.md has the command.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyanimf import Model, ModelFileError, _core
from pyanimf.errors import RatingsFormatError
from pyanimf.ratings import Ratings, load_ratings, parse_ratings_text

EXAMPLES = int(os.environ.get("PYANIMF_FUZZ_EXAMPLES", "200"))
fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SOURCE = "fuzz.csv"


# ---- Ratings text --------------------------------------------------------------------------

# Pieces that the parsers treat specially, so random text reaches their branches.
TOKENS = [
    "user_id", "anime_id", "rating", "score", "uid", "iid", "timestamp",
    ",", "\t", ";", "::", ":", " ", '"', "\n", "\r\n", "\r", "\ufeff",
    "0", "7", "-1", "+", "-", ".", "e", "E", "10", "007", "2.5", "1e39", "1e-50", "nan", "inf", "-inf",
    "99999999999999999999", "9223372036854775807", "-9223372036854775808", "alice", "é", "\x00", "\xff",
]


def as_bytes(text: str) -> bytes:
    # "\xff" stands for a byte that is not valid UTF-8; everything else is UTF-8 encoded.
    return text.encode("utf-8").replace("\xff".encode("utf-8"), b"\xff")


token_text = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join).map(as_bytes)
ratings_bytes = st.one_of(st.binary(max_size=200), token_text)


def parse_native(data: bytes, unrated):
    """Parse with the core; returns ("ok", columns), ("error", message) or ("string ids", None)."""
    try:
        return "ok", _core.parse_ratings(data, SOURCE, unrated)
    except _core.RatingsParseError as error:
        return "error", str(error)
    except _core.NonIntegerIdError:
        return "string ids", None


def parse_python(data: bytes, unrated):
    """Parse with the pure-Python parser; returns ("ok", columns) or ("error", message)."""
    try:
        return "ok", parse_ratings_text(data, SOURCE, unrated)
    except RatingsFormatError as error:
        return "error", str(error)


def check_columns(columns):
    users, anime, scores = columns
    assert len(users) == len(anime) == len(scores)
    assert scores.dtype == np.float32
    for ids in (users, anime):
        assert ids.dtype in (np.int32, np.int64) or ids.dtype.kind == "U"


@fuzz
@given(data=ratings_bytes, unrated=st.sampled_from([None, -1.0, 0.0]))
def test_fuzz_parsers_agree(data, unrated):
    native_outcome, native = parse_native(data, unrated)
    python_outcome, python = parse_python(data, unrated)
    if native_outcome == "error":
        # Both reject, though a file with several problems may be reported at different ones.
        assert python_outcome == "error", native
        assert native.startswith(SOURCE)
        return
    if native_outcome == "string ids":
        # load_ratings hands these files to the Python parser, and its outcome is the result.
        if python_outcome == "ok":
            check_columns(python)
            assert python[0].dtype.kind == "U" or python[1].dtype.kind == "U"
        return
    check_columns(native)
    if python_outcome == "error":
        # Only the Python parser needs valid UTF-8 (documented in load_ratings).
        assert "UTF-8" in python, python
        return
    check_columns(python)
    for native_column, python_column in zip(native, python):
        np.testing.assert_array_equal(native_column, python_column)


@fuzz
@given(data=ratings_bytes, unrated=st.sampled_from([None, -1.0]), chunks=st.integers(2, 80),
       threads=st.integers(1, 3))
def test_fuzz_chunks_agree_with_one_chunk(data, unrated, chunks, threads):
    # Cutting the data lines into chunks must change neither the columns nor the error.
    def outcome(**options):
        try:
            users, anime, scores = _core.parse_ratings(data, SOURCE, unrated, **options)
        except (_core.RatingsParseError, _core.NonIntegerIdError) as error:
            return type(error).__name__, str(error)
        return "ok", users.tolist(), anime.tolist(), scores.tobytes()

    assert outcome(threads=threads, chunks=chunks) == outcome(chunks=1)


@fuzz
@given(data=ratings_bytes, compress=st.booleans())
def test_fuzz_load_ratings_file(data, compress):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / ("fuzz.csv.gz" if compress else "fuzz.csv")
        path.write_bytes(gzip.compress(data) if compress else data)
        try:
            ratings = load_ratings(path)
        except RatingsFormatError as error:
            assert str(path) in str(error)
            return
    assert isinstance(ratings, Ratings)
    assert len(ratings) > 0
    # The repeated-pair rule left one row per (user, anime) pair.
    pairs = set(zip(ratings.user_ids.tolist(), ratings.anime_ids.tolist()))
    assert len(pairs) == len(ratings)


# ---- Model files -------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def model_bytes() -> bytes:
    users = [1, 1, 2, 2, 3, 3, 4]
    anime = [10, 20, 10, 30, 20, 30, 40]
    scores = [8.0, 6.0, 7.0, 9.0, 5.0, -1.0, 3.0]
    model = Model(dim=4, epochs=2).fit(users, anime, scores)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.npz"
        model.save(path)
        return path.read_bytes()


@functools.lru_cache(maxsize=None)
def model_members() -> dict:
    with np.load(io.BytesIO(model_bytes())) as archive:
        return {name: archive[name] for name in archive.files}


def load_bytes(data: bytes):
    """Load a model from bytes; returns the model or None after a ModelFileError."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "model.npz"
        path.write_bytes(data)
        try:
            return Model.load(path)
        except ModelFileError as error:
            assert str(path) in str(error)
            return None


def check_loaded(model):
    if model is None:
        return
    users = model.user_ids
    anime = np.resize(model.anime_ids, len(users))
    assert np.all(np.isfinite(model.predict(users, anime)))
    for user in model.user_ids:
        assert all(np.isfinite(score) for _, score in model.recommend(user, n=3))


edits = st.lists(
    st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate"]), st.integers(0, 2**20), st.integers(0, 255)),
    min_size=1,
    max_size=4,
)


@fuzz
@given(edits=edits)
def test_fuzz_model_file_bytes(edits):
    data = bytearray(model_bytes())
    for kind, position, value in edits:
        if not data:
            break
        position %= len(data)
        if kind == "flip":
            data[position] ^= value or 1
        elif kind == "insert":
            data.insert(position, value)
        elif kind == "delete" and data:
            del data[position]
        else:
            del data[position:]
    check_loaded(load_bytes(bytes(data)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
HEADER_KEYS = ["format", "version", "n_users", "n_anime", "settings", "scale", "weight", "bias", "global_mean",
               "settings.dim", "settings.output", "settings.seed", "settings.learning_rate", "settings.biases",
               "scale.shift", "scale.scale", "scale.low", "scale.high"]


def replace_key(header: dict, key: str, value) -> dict:
    header = json.loads(json.dumps(header))
    target = header
    *parents, last = key.split(".")
    for parent in parents:
        if not isinstance(target.get(parent), dict):
            return header
        target = target[parent]
    target[last] = value
    return header


def save_members(members: dict) -> bytes:
    stream = io.BytesIO()
    np.savez(stream, **members)
    return stream.getvalue()


@fuzz
@given(key=st.sampled_from(HEADER_KEYS), value=json_values)
def test_fuzz_model_header_values(key, value):
    members = dict(model_members())
    header = json.loads(members["header"].tobytes())
    changed = replace_key(header, key, value)
    members["header"] = np.frombuffer(json.dumps(changed).encode("utf-8"), dtype=np.uint8)
    check_loaded(load_bytes(save_members(members)))


array_dtypes = st.sampled_from(["<f4", ">f4", "<f8", "<i4", "<i8", ">i8", "<u8", "|u1", "|b1", "<U3", "|S3", "<c8"])


@st.composite
def random_arrays(draw):
    dtype = np.dtype(draw(array_dtypes))
    shape = tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
    count = int(np.prod(shape)) if shape else 1
    raw = draw(st.binary(min_size=count * dtype.itemsize, max_size=count * dtype.itemsize))
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


MEMBERS = ["header", "user_factors", "anime_factors", "user_bias", "anime_bias", "user_ids", "anime_ids",
           "seen_indptr", "seen_anime", "extra"]


@fuzz
@given(name=st.sampled_from(MEMBERS), array=random_arrays())
def test_fuzz_model_arrays(name, array):
    members = dict(model_members())
    members[name] = array
    check_loaded(load_bytes(save_members(members)))


# ---- The core's entry points ----------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def core_model():
    arrays = _core.ModelArrays(5, 4, 3)
    arrays.user_factors[:] = np.arange(15, dtype=np.float32).reshape(5, 3) / 10
    arrays.item_factors[:] = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    return arrays


index_arrays = st.one_of(
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=8).map(lambda values: np.array(values, dtype=np.int32)),
    st.lists(st.integers(-10, 10), max_size=8).map(lambda values: np.array(values, dtype=np.int64)),
    st.lists(st.integers(-2, 6), max_size=8).map(lambda values: np.array(values, dtype=np.int32)),
    st.just(np.zeros((2, 2), dtype=np.int32)),
    st.just(np.arange(8, dtype=np.int32)[::2]),
)
small_ints = st.integers(-(2**40), 2**40) | st.integers(-3, 8)
# Valid thread counts go up to 4096, but starting thousands of threads tests only the machine.
thread_counts = st.integers(-2, 4) | st.sampled_from([5000, 2**40])
kernels = st.sampled_from(["auto", "scalar", "bogus"])


def expect_clean(call):
    try:
        call()
    except (TypeError, ValueError, IndexError, OverflowError):
        pass


@fuzz
@given(users=index_arrays, items=index_arrays, threads=thread_counts, kernel=kernels)
def test_fuzz_core_predict(users, items, threads, kernel):
    settings_ = _core.SgdSettings()
    expect_clean(lambda: _core.predict(core_model(), settings_, 1.0, 0.0, users, items, kernel, threads))


@fuzz
@given(user=small_ints, exclude=index_arrays, n=small_ints, kernel=kernels)
def test_fuzz_core_top_n_items(user, exclude, n, kernel):
    settings_ = _core.SgdSettings()
    expect_clean(lambda: _core.top_n_items(core_model(), settings_, 1.0, 0.0, user, exclude, n, kernel))


@fuzz
@given(side=st.sampled_from(["users", "items", "x"]), query=small_ints, n=small_ints, kernel=kernels)
def test_fuzz_core_most_similar(side, query, n, kernel):
    expect_clean(lambda: _core.most_similar(core_model(), side, query, n, kernel))


@fuzz
@given(
    rows=st.integers(0, 4), columns=st.integers(0, 5), indptr=index_arrays, seen=index_arrays,
    n=small_ints, threads=thread_counts,
)
def test_fuzz_core_top_n_batch(rows, columns, indptr, seen, n, threads):
    dots = np.ones((rows, columns), dtype=np.float32)
    user_offset = np.zeros(rows, dtype=np.float32)
    item_offset = np.zeros(columns, dtype=np.float32)
    expect_clean(lambda: _core.top_n_batch(dots, 1.0, user_offset, item_offset, indptr.astype(np.int64),
                                           seen, n, threads))


# Row counts stay small or out of range: a valid count of 10^8 would only test the memory of this machine.
row_counts = st.integers(-3, 50) | st.sampled_from([2**31, 2**40, -(2**40)])


@fuzz
@given(users=index_arrays, items=index_arrays, n_users=row_counts, n_items=row_counts,
       grid_size=small_ints, seed=st.integers(0, 2**64 - 1))
def test_fuzz_core_block_grid_and_epoch(users, items, n_users, n_items, grid_size, seed):
    scores = np.ones(len(users), dtype=np.float32)
    try:
        grid = _core.BlockGrid(users, items, scores, n_users, n_items, grid_size, seed)
    except (TypeError, ValueError, OverflowError):
        return
    arrays = _core.ModelArrays(grid.n_users, grid.n_items, 3)
    result = _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0, threads=2)
    assert result["count"] == grid.size
    expect_clean(lambda: _core.run_epoch(grid, core_model(), _core.SgdSettings(), 1.0, 0.0))


@fuzz
@given(users=index_arrays, anime=index_arrays)
def test_fuzz_core_id_functions(users, anime):
    expect_clean(lambda: _core.map_ids(users))
    expect_clean(lambda: _core.superseded_rows(users, anime))
    expect_clean(lambda: _core.superseded_rows(users, anime, threads=2))
    if users.dtype == np.int64 and users.ndim == 1:
        codes, uniques = _core.map_ids(users)
        np.testing.assert_array_equal(uniques[codes], users)
