"""Tests of the id mapping: the native map_ids and the IdIndex class."""

from __future__ import annotations

import numpy as np
import pytest

from pyanimf import _core
from pyanimf.ids import IdIndex

# ---- _core.map_ids ------------------------------------------------------------------


def test_map_ids_first_seen_order():
    ids = np.array([50, 7, 50, -3, 7, 2**62], dtype=np.int64)
    codes, uniques = _core.map_ids(ids)
    assert codes.dtype == np.int32
    assert uniques.dtype == np.int64
    assert codes.tolist() == [0, 1, 0, 2, 1, 3]
    assert uniques.tolist() == [50, 7, -3, 2**62]


def test_map_ids_round_trip_many():
    rng = np.random.default_rng(1)
    ids = rng.integers(-(2**63), 2**63 - 1, size=200_000, dtype=np.int64)
    ids = np.concatenate([ids, ids[::3], np.arange(100_000, dtype=np.int64)])
    codes, uniques = _core.map_ids(ids)
    np.testing.assert_array_equal(uniques[codes], ids)
    assert len(uniques) == len(np.unique(ids))
    first_positions = np.unique(ids, return_index=True)[1]
    np.testing.assert_array_equal(uniques, ids[np.sort(first_positions)])


def test_map_ids_int32_same_as_int64():
    rng = np.random.default_rng(2)
    ids = rng.integers(-(2**31), 2**31 - 1, size=50_000, dtype=np.int64)
    ids = np.concatenate([ids, ids[::4], [-(2**31), 2**31 - 1]])
    codes, uniques = _core.map_ids(ids.astype(np.int32))
    expected_codes, expected_uniques = _core.map_ids(ids)
    assert uniques.dtype == np.int64
    np.testing.assert_array_equal(codes, expected_codes)
    np.testing.assert_array_equal(uniques, expected_uniques)


@pytest.mark.parametrize("threads", [2, 3, 8])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_map_ids_threads_same_as_one(threads, dtype):
    rng = np.random.default_rng(3)
    # A dense span takes the table path; the last case, a wide span, the hash path.
    cases = [
        np.repeat(rng.permutation(5000), rng.integers(1, 80, 5000)) - 2500,
        rng.integers(0, 3000, 400_000),
        rng.integers(-(2**30), 2**30, 300_000),
    ]
    for ids in cases:
        ids = ids.astype(dtype)
        codes, uniques = _core.map_ids(ids, threads=threads)
        expected_codes, expected_uniques = _core.map_ids(ids, threads=1)
        np.testing.assert_array_equal(codes, expected_codes)
        np.testing.assert_array_equal(uniques, expected_uniques)
        np.testing.assert_array_equal(uniques[codes], ids)
        first_positions = np.unique(ids, return_index=True)[1]
        np.testing.assert_array_equal(uniques, ids[np.sort(first_positions)])


@pytest.mark.parametrize("threads", [1, 2])
def test_map_ids_in_place_overwrites_the_ids(threads):
    rng = np.random.default_rng(4)
    # A dense span, then a wide one that takes the hash path.
    for ids in (rng.integers(0, 3000, 300_000), rng.integers(-(2**31), 2**31 - 1, 50_000)):
        ids = ids.astype(np.int32)
        expected_codes, expected_uniques = _core.map_ids(ids, threads=1)
        codes, uniques = _core.map_ids(ids, threads=threads, in_place=True)
        assert codes is ids
        np.testing.assert_array_equal(ids, expected_codes)
        np.testing.assert_array_equal(uniques, expected_uniques)


def test_map_ids_in_place_rejects_other_arrays():
    with pytest.raises(TypeError, match="in_place needs an int32 array, got dtype int64"):
        _core.map_ids(np.arange(4, dtype=np.int64), in_place=True)
    frozen = np.arange(4, dtype=np.int32)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="in_place needs a writable, contiguous array, got a read-only one"):
        _core.map_ids(frozen, in_place=True)
    with pytest.raises(ValueError, match="in_place needs a writable, contiguous array, got a strided one"):
        _core.map_ids(np.arange(8, dtype=np.int32)[::2], in_place=True)


def test_encode_in_place_only_for_int32_arrays():
    ids = np.array([7, 3, 7, 9], dtype=np.int32)
    index, codes = IdIndex.encode(ids, in_place=True)
    assert codes is ids
    assert ids.tolist() == [0, 1, 0, 2]
    assert index.ids.tolist() == [7, 3, 9]
    wide = np.array([7, 3, 7], dtype=np.int64)
    _, codes = IdIndex.encode(wide, in_place=True)
    assert wide.tolist() == [7, 3, 7]
    assert codes.tolist() == [0, 1, 0]


@pytest.mark.parametrize("threads", [0, 4097])
def test_map_ids_rejects_thread_count(threads):
    with pytest.raises(ValueError, match="threads"):
        _core.map_ids(np.arange(3, dtype=np.int64), threads=threads)


def test_map_ids_sorted_runs():
    ids = np.repeat(np.arange(1000, dtype=np.int64) * 7, 5)
    codes, uniques = _core.map_ids(ids)
    assert codes.tolist() == np.repeat(np.arange(1000), 5).tolist()
    assert uniques.tolist() == (np.arange(1000) * 7).tolist()


def test_map_ids_extreme_values():
    ids = np.array([np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max, 0, -1], dtype=np.int64)
    codes, uniques = _core.map_ids(ids)
    assert codes.tolist() == [0, 1, 2, 1, 3]
    assert uniques.tolist() == [np.iinfo(np.int64).min, 0, np.iinfo(np.int64).max, -1]


def test_map_ids_empty():
    codes, uniques = _core.map_ids(np.empty(0, dtype=np.int64))
    assert codes.dtype == np.int32
    assert len(codes) == 0
    assert len(uniques) == 0


def test_map_ids_strided_input():
    matrix = np.array([[1, 100], [2, 200], [1, 300]], dtype=np.int64)
    codes, uniques = _core.map_ids(matrix[:, 0])
    assert codes.tolist() == [0, 1, 0]
    assert uniques.tolist() == [1, 2]


def test_map_ids_rejects_other_dtype():
    with pytest.raises(TypeError, match=r"map_ids: ids must have dtype int32 or int64, got int16"):
        _core.map_ids(np.array([1, 2], dtype=np.int16))


def test_map_ids_rejects_2d():
    with pytest.raises(ValueError, match=r"map_ids: ids must be 1-dimensional, got 2 dimensions"):
        _core.map_ids(np.zeros((2, 2), dtype=np.int64))


def test_map_ids_rejects_list():
    with pytest.raises(TypeError):
        _core.map_ids([1, 2, 3])


# ---- IdIndex.encode -------------------------------------------------------------------


def test_encode_integers_first_seen_order():
    index, codes = IdIndex.encode([30, 10, 30, 20])
    assert index.ids.dtype == np.int64
    assert index.ids.tolist() == [30, 10, 20]
    assert codes.dtype == np.int32
    assert codes.tolist() == [0, 1, 0, 2]
    assert len(index) == 3


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint16, np.uint64])
def test_encode_other_integer_dtypes(dtype):
    index, codes = IdIndex.encode(np.array([5, 3, 5], dtype=dtype))
    assert index.ids.dtype == np.int64
    assert index.ids.tolist() == [5, 3]
    assert codes.tolist() == [0, 1, 0]


def test_encode_uint64_above_int64_rejected():
    with pytest.raises(ValueError, match=r"values\[1\] is 9223372036854775808, above the int64 maximum"):
        IdIndex.encode(np.array([1, 2**63], dtype=np.uint64))


def test_encode_strings_first_seen_order():
    index, codes = IdIndex.encode(["bob", "alice", "bob", "carol", "alice"])
    assert index.ids.dtype.kind == "U"
    assert index.ids.tolist() == ["bob", "alice", "carol"]
    assert codes.dtype == np.int32
    assert codes.tolist() == [0, 1, 0, 2, 1]


def test_encode_string_object_array():
    values = np.array(["x", "y", "x"], dtype=object)
    index, codes = IdIndex.encode(values)
    assert index.ids.dtype.kind == "U"
    assert codes.tolist() == [0, 1, 0]


def test_encode_integral_floats():
    index, codes = IdIndex.encode(np.array([3.0, 1.0, 3.0]))
    assert index.ids.dtype == np.int64
    assert index.ids.tolist() == [3, 1]
    assert codes.tolist() == [0, 1, 0]


def test_encode_rejects_fractional_float():
    with pytest.raises(ValueError, match=r"values\[2\] is 2\.5, not an integer"):
        IdIndex.encode(np.array([1.0, 2.0, 2.5]))


def test_encode_rejects_nan():
    with pytest.raises(ValueError, match=r"values\[1\] is NaN; every row needs an id"):
        IdIndex.encode(np.array([1.0, np.nan]))


def test_encode_rejects_none():
    with pytest.raises(ValueError, match=r"values\[1\] is None; every row needs an id"):
        IdIndex.encode(["a", None, "b"])


def test_encode_rejects_bool():
    with pytest.raises(ValueError, match="bool"):
        IdIndex.encode(np.array([True, False]))
    with pytest.raises(ValueError, match=r"values\[1\] is True"):
        IdIndex.encode(np.array([1, True], dtype=object))


def test_encode_rejects_mixed_types():
    with pytest.raises(ValueError, match=r"values\[1\] is the integer 1, but values\[0\] is a string"):
        IdIndex.encode(["a", 1])


def test_encode_rejects_2d():
    with pytest.raises(ValueError, match="values must be 1-dimensional, got 2 dimensions"):
        IdIndex.encode(np.zeros((2, 2), dtype=np.int64))


def test_encode_empty():
    index, codes = IdIndex.encode(np.empty(0, dtype=np.int64))
    assert len(index) == 0
    assert len(codes) == 0
    assert index.lookup([1]).tolist() == [-1]


def test_encode_round_trip():
    values = np.array(["b", "a", "c", "a"])
    index, codes = IdIndex.encode(values)
    np.testing.assert_array_equal(index.ids[codes], values)


# ---- IdIndex.lookup and index_of ----------------------------------------------------------


def test_lookup_with_unknowns():
    index, _ = IdIndex.encode([30, 10, 20])
    codes = index.lookup(np.array([20, 99, 30, -5, 10], dtype=np.int64))
    assert codes.dtype == np.int32
    assert codes.tolist() == [2, -1, 0, -1, 1]


def test_lookup_strings():
    index, _ = IdIndex.encode(["bob", "alice"])
    assert index.lookup(["alice", "zed", "bob", ""]).tolist() == [1, -1, 0, -1]


def test_lookup_type_mismatch_is_unknown():
    int_index, _ = IdIndex.encode([1, 2])
    str_index, _ = IdIndex.encode(["1", "2"])
    assert int_index.lookup(["1", "2"]).tolist() == [-1, -1]
    assert str_index.lookup([1, 2]).tolist() == [-1, -1]
    assert int_index.lookup(np.array([True, False])).tolist() == [-1, -1]


def test_lookup_floats_match_whole_numbers():
    index, _ = IdIndex.encode([1, 2])
    assert index.lookup(np.array([2.0, 1.5, np.nan, 1e300])).tolist() == [1, -1, -1, -1]


def test_lookup_uint64_beyond_int64():
    index, _ = IdIndex.encode([1])
    assert index.lookup(np.array([2**64 - 1, 1], dtype=np.uint64)).tolist() == [-1, 0]


def test_lookup_object_array():
    index, _ = IdIndex.encode([7, 8])
    assert index.lookup(np.array([8, "7", None, 7], dtype=object)).tolist() == [1, -1, -1, 0]


def test_lookup_large_matches_encode():
    rng = np.random.default_rng(2)
    values = rng.integers(0, 10**12, size=50_000)
    index, codes = IdIndex.encode(values)
    np.testing.assert_array_equal(index.lookup(values), codes)


def test_index_of_scalars():
    index, _ = IdIndex.encode([5, 9])
    assert index.index_of(9) == 1
    assert index.index_of(np.int32(5)) == 0
    assert index.index_of(5.0) == 0
    assert index.index_of(4) == -1
    assert index.index_of("5") == -1
    assert index.index_of(True) == -1
    assert index.index_of(None) == -1
    assert index.index_of(2**70) == -1

    names, _ = IdIndex.encode(["x"])
    assert names.index_of("x") == 0
    assert names.index_of(np.str_("x")) == 0
    assert names.index_of(0) == -1


# ---- Saving and rebuilding ----------------------------------------------------------------


def test_ids_save_without_pickle(tmp_path):
    for values in ([3, 1, 3], ["b", "a"]):
        index, _ = IdIndex.encode(values)
        assert index.ids.dtype != object
        path = tmp_path / "ids.npz"
        np.savez(path, ids=index.ids)
        with np.load(path, allow_pickle=False) as saved:
            rebuilt = IdIndex.from_ids(saved["ids"])
        np.testing.assert_array_equal(rebuilt.ids, index.ids)
        assert rebuilt.lookup(values).tolist() == index.lookup(values).tolist()


def test_ids_read_only():
    index, _ = IdIndex.encode([1, 2])
    with pytest.raises(ValueError):
        index.ids[0] = 5


def test_from_ids_rejects_duplicates():
    with pytest.raises(ValueError, match=r"ids contains 7 twice \(positions 1 and 3\)"):
        IdIndex.from_ids(np.array([1, 7, 2, 7]))


def test_from_ids_copies_input():
    source = np.array([4, 5], dtype=np.int64)
    index = IdIndex.from_ids(source)
    source[0] = 99
    assert index.ids.tolist() == [4, 5]
    assert index.index_of(4) == 0


def test_encode_object_array_integral_floats():
    index, codes = IdIndex.encode(np.array([4, 4.0, np.int16(2)], dtype=object))
    assert index.ids.dtype == np.int64
    assert index.ids.tolist() == [4, 2]
    assert codes.tolist() == [0, 0, 1]
    with pytest.raises(ValueError, match=r"values\[1\] is 4\.5, not an integer"):
        IdIndex.encode(np.array([4, np.float64(4.5)], dtype=object))
    with pytest.raises(ValueError, match=r"values\[0\] is nan; every row needs an id"):
        IdIndex.encode(np.array([np.float64("nan")], dtype=object))
