"""Mapping between a data set's own user or anime ids and compact indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from pyanimf import _core

_INT64_MIN = np.iinfo(np.int64).min
_INT64_MAX = np.iinfo(np.int64).max


class IdIndex:
    """Mapping between original ids and indices 0..n-1.

    Indices follow the order in which ids first appear, so encoding the same
    data twice gives the same indices. Ids are either all integers (stored as
    int64) or all strings (stored with a numpy unicode dtype). Neither needs
    pickle, so ``ids`` can be saved in an ``.npz`` file and passed back to
    :meth:`from_ids`.

    Create one with :meth:`encode` (from the id column of the ratings) or
    :meth:`from_ids` (from the saved index-to-id array).
    """

    __slots__ = ("_ids", "_sorted_ids", "_sorted_codes")

    def __init__(self, ids: np.ndarray) -> None:
        # Private: `ids` must already be validated, unique, 1-D and int64 or 'U'.
        ids.flags.writeable = False
        self._ids = ids
        self._sorted_ids: np.ndarray | None = None
        self._sorted_codes: np.ndarray | None = None

    @classmethod
    def encode(cls, values: Any, threads: int = 1, in_place: bool = False) -> tuple[IdIndex, np.ndarray]:
        """Build the index of ``values`` and return it with the int32 code of each value.

        ``values`` is a 1-D sequence of integers (any integer dtype, or floats
        with integer values) or of strings. Bools, None, NaN, non-integer
        floats and a mix of strings and numbers raise ValueError naming the
        first bad position and value. Integer ids are mapped on up to
        ``threads`` threads, with the same result for any count. With
        ``in_place``, a writable, contiguous int32 ``values`` array is
        overwritten with the codes and returned as them, which saves a new
        array of 4 bytes an id; other inputs get a new codes array.
        """
        ids = _as_id_array(values, "values")
        if in_place and ids is values and ids.dtype == np.int32 and ids.flags.c_contiguous and ids.flags.writeable:
            codes, uniques = _core.map_ids(ids, threads=threads, in_place=True)
            return cls(uniques), codes
        if ids.dtype.kind == "i":
            codes, uniques = _core.map_ids(np.ascontiguousarray(ids), threads=threads)
            return cls(uniques), codes
        if len(ids) == 0:
            return cls(ids.copy()), np.empty(0, dtype=np.int32)
        uniques, first_positions, inverse = np.unique(ids, return_index=True, return_inverse=True)
        # np.unique sorts; renumber by first appearance so indices are stable.
        order = np.argsort(first_positions, kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        codes = rank[inverse.reshape(-1)]
        return cls(uniques[order]), codes

    @classmethod
    def from_ids(cls, ids: Any) -> IdIndex:
        """Rebuild an index from its ``ids`` array (index to original id), as saved with a model.

        Raises ValueError for a duplicate id and for the values that
        :meth:`encode` rejects.
        """
        array = _as_id_array(ids, "ids")
        # Always a copy. int32 ids are widened, because an index keeps int64 ids.
        array = array.astype(np.int64) if array.dtype == np.int32 else array.copy()
        if len(array) > 0:
            order = np.argsort(array, kind="stable")
            sorted_ids = array[order]
            duplicate = np.flatnonzero(sorted_ids[1:] == sorted_ids[:-1])
            if len(duplicate) > 0:
                value = sorted_ids[duplicate[0]].item()
                positions = np.flatnonzero(array == value)[:2]
                raise ValueError(
                    f"ids contains {value!r} twice (positions {positions[0]} and {positions[1]}); "
                    "each id must appear once"
                )
        return cls(array)

    @property
    def ids(self) -> np.ndarray:
        """Read-only array of the original id at each index (int64 or unicode)."""
        return self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        kind = "integer" if self._ids.dtype == np.int64 else "string"
        return f"IdIndex({len(self)} {kind} ids)"

    def lookup(self, values: Any) -> np.ndarray:
        """Return the int32 index of each value, or -1 for a value not in the index.

        A string looked up in an integer index, or a number in a string index,
        is unknown (-1). Floats match an integer id only when they are whole
        numbers.
        """
        query = np.asarray(values)
        if query.ndim == 0:
            query = query.reshape(1)
        if query.ndim != 1:
            raise ValueError(f"values must be 1-dimensional, got {query.ndim} dimensions")
        if query.dtype == object:
            return np.array([self.index_of(value) for value in query], dtype=np.int32)
        codes = np.full(len(query), -1, dtype=np.int32)
        keys, valid = self._comparable_keys(query)
        if keys is None or len(keys) == 0 or len(self._ids) == 0:
            return codes
        sorted_ids, sorted_codes = self._sorted()
        positions = np.searchsorted(sorted_ids, keys)
        positions = np.minimum(positions, len(sorted_ids) - 1)
        found = valid & (sorted_ids[positions] == keys)
        codes[found] = sorted_codes[positions[found]]
        return codes

    def index_of(self, value: Any) -> int:
        """Return the index of one id, or -1 when it is not in the index."""
        if isinstance(value, (bool, np.bool_)) or value is None:
            return -1
        if isinstance(value, (str, np.str_)):
            query = np.array([value], dtype=str)
        elif isinstance(value, (int, np.integer)):
            if not _INT64_MIN <= int(value) <= _INT64_MAX:
                return -1
            query = np.array([int(value)], dtype=np.int64)
        elif isinstance(value, (float, np.floating)):
            query = np.array([value], dtype=np.float64)
        else:
            return -1
        return int(self.lookup(query)[0])

    def _sorted(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the ids in sorted order and their indices, computed once."""
        if self._sorted_ids is None:
            order = np.argsort(self._ids, kind="stable")
            # Codes first: queries from several threads may race here, and a
            # thread that sees _sorted_ids set must find the codes set too.
            self._sorted_codes = order.astype(np.int32)
            self._sorted_ids = self._ids[order]
        assert self._sorted_codes is not None
        return self._sorted_ids, self._sorted_codes

    def _comparable_keys(self, query: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
        """Convert a query to the index's dtype; `valid` marks values that can match at all."""
        valid = np.ones(len(query), dtype=bool)
        integer_index = self._ids.dtype == np.int64
        kind = query.dtype.kind
        if kind in "US":
            if integer_index or kind == "S":
                return None, valid
            return query, valid
        if not integer_index or kind not in "iuf":
            return None, valid
        if kind == "f":
            with np.errstate(invalid="ignore"):
                valid = np.isfinite(query) & (query == np.floor(query))
                valid &= (query >= -(2.0**63)) & (query < 2.0**63)
            keys = np.where(valid, query, 0).astype(np.int64)
            return keys, valid
        if kind == "u" and query.dtype.itemsize == 8:
            valid = query <= _INT64_MAX
            keys = np.where(valid, query, 0).astype(np.int64)
            return keys, valid
        return query.astype(np.int64, copy=False), valid


def _as_id_array(values: Any, name: str) -> np.ndarray:
    """Convert ids to a 1-D int32, int64 or unicode array, raising ValueError for invalid ids.

    int32 arrays are kept, so that the ids of a large file are not widened;
    other integer dtypes become int64.
    """
    if isinstance(values, np.ndarray):
        array = values
    else:
        array = np.asarray(values)
        mixed_bool = array.dtype.kind in "iuf" and array.ndim == 1 and any(
            isinstance(value, (bool, np.bool_)) for value in values
        )
        if (array.dtype.kind in "UO" or mixed_bool) and array.ndim == 1:
            # np.asarray turns [1, "a"] into strings and [1, True] into
            # integers, so check the elements themselves.
            array = np.empty(len(values), dtype=object)
            array[:] = list(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-dimensional, got {array.ndim} dimensions")

    kind = array.dtype.kind
    if kind == "b":
        raise ValueError(f"{name} has dtype bool; ids must be integers or strings")
    if kind == "i":
        return array if array.dtype == np.int32 else array.astype(np.int64, copy=False)
    if kind == "u":
        too_large = np.flatnonzero(array > _INT64_MAX) if array.dtype.itemsize == 8 else []
        if len(too_large) > 0:
            position = too_large[0]
            raise ValueError(
                f"{name}[{position}] is {array[position].item()}, above the int64 maximum; "
                "ids must fit in 64-bit signed integers"
            )
        return array.astype(np.int64)
    if kind == "f":
        return _float_ids_to_int64(array, name)
    if kind == "U":
        return array
    if kind == "S":
        raise ValueError(f"{name} has bytes dtype {array.dtype}; decode the ids to str first")
    if kind == "O":
        return _object_ids_to_array(array, name)
    raise ValueError(f"{name} has dtype {array.dtype}; ids must be integers or strings")


def _float_ids_to_int64(array: np.ndarray, name: str) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        missing = np.isnan(array)
        whole = np.isfinite(array) & (array == np.floor(array))
        in_range = (array >= -(2.0**63)) & (array < 2.0**63)
    if missing.any():
        position = int(np.flatnonzero(missing)[0])
        raise ValueError(f"{name}[{position}] is NaN; every row needs an id")
    bad = np.flatnonzero(~(whole & in_range))
    if len(bad) > 0:
        position = int(bad[0])
        raise ValueError(
            f"{name}[{position}] is {array[position].item()!r}, not an integer; ids must be integers or strings"
        )
    return array.astype(np.int64)


def _object_ids_to_array(array: np.ndarray, name: str) -> np.ndarray:
    """Convert an object array of all-str or all-int ids; anything else raises ValueError."""
    if len(array) == 0:
        return np.empty(0, dtype=np.int64)
    first_kind = None
    for position, value in enumerate(array):
        if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
            raise ValueError(f"{name}[{position}] is {_plain(value)!r}; every row needs an id")
        if isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name}[{position}] is {_plain(value)!r}; ids must be integers or strings, not bools")
        if isinstance(value, (str, np.str_)):
            value_kind = "string"
        elif isinstance(value, (int, np.integer, float, np.floating)):
            value_kind = "integer"
            if isinstance(value, (float, np.floating)) and not float(value).is_integer():
                raise ValueError(
                    f"{name}[{position}] is {_plain(value)!r}, not an integer; ids must be integers or strings"
                )
            if not _INT64_MIN <= int(value) <= _INT64_MAX:
                raise ValueError(f"{name}[{position}] is {_plain(value)}, outside the int64 range")
        else:
            raise ValueError(
                f"{name}[{position}] is {_plain(value)!r} of type {type(value).__name__}; "
                "ids must be integers or strings"
            )
        if first_kind is None:
            first_kind = value_kind
        elif value_kind != first_kind:
            raise ValueError(
                f"{name}[{position}] is the {value_kind} {_plain(value)!r}, but {name}[0] is a {first_kind}; "
                "use one id type in a column"
            )
    if first_kind == "string":
        return array.astype(str)
    return np.array([int(value) for value in array], dtype=np.int64)


def _plain(value: Any) -> Any:
    """Return a numpy scalar as the Python value, so messages show 7 rather than np.int64(7)."""
    return value.item() if isinstance(value, np.generic) else value
