"""Ratings data: the Ratings container and the ratings file loader."""

from __future__ import annotations

import codecs
import csv
import io
import logging
import math
import mmap
import numbers
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from pyanimf import _core
from pyanimf.datasets import bundled_ratings_path, open_data_file, read_gzip
from pyanimf.errors import RatingsFormatError
from pyanimf.ids import _as_id_array
from pyanimf.threads import resolve_threads

logger = logging.getLogger("pyanimf")

# Smallest magnitude that rounds to infinity in float32: FLT_MAX plus half an ulp.
_FLOAT32_OVERFLOW = 3.4028235677973366e38
# Largest magnitude that rounds to zero in float32: half the smallest subnormal.
_FLOAT32_UNDERFLOW = 2.0**-150

# Rows per slice where a whole-column count would otherwise need a mask.
_COUNT_SLICE = 1 << 20

# The isolated-score check (see _warn_isolated_scores) needs this many scores
# and flags a value held by at most this fraction of them (and at least one row).
_ISOLATED_MIN_SCORES = 1000
_ISOLATED_MAX_FRACTION = 0.001


@dataclass(frozen=True, eq=False, repr=False)
class Ratings:
    """Ratings as parallel arrays, one entry per (user, anime) row.

    Attributes
    ----------
    user_ids, anime_ids : numpy.ndarray
        The data set's own ids: int32, int64 or a numpy unicode dtype.
        :func:`load_ratings` gives int32 ids when every integer id of the
        file fits in 32 bits, which halves their memory.
    scores : numpy.ndarray
        float32 scores, NaN where the anime is on the user's list without a
        score ("unrated" rows).
    source : str or None
        Where the ratings came from, for messages.

    The arrays are not copied on construction, so do not modify them
    afterwards. Build one with :func:`load_ratings` or :meth:`from_arrays`.
    """

    user_ids: np.ndarray
    anime_ids: np.ndarray
    scores: np.ndarray
    source: str | None = None

    def __post_init__(self) -> None:
        for name in ("user_ids", "anime_ids", "scores"):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray):
                raise TypeError(f"Ratings.{name} must be a numpy array, got {type(array).__name__}")
            if array.ndim != 1:
                raise ValueError(f"Ratings.{name} must be 1-dimensional, got {array.ndim} dimensions")
        for name in ("user_ids", "anime_ids"):
            dtype = getattr(self, name).dtype
            if dtype not in (np.int32, np.int64) and dtype.kind != "U":
                raise TypeError(f"Ratings.{name} must have dtype int32, int64 or str, got {dtype}")
        if self.scores.dtype != np.float32:
            raise TypeError(f"Ratings.scores must have dtype float32, got {self.scores.dtype}")
        lengths = (len(self.user_ids), len(self.anime_ids), len(self.scores))
        if len(set(lengths)) != 1:
            raise ValueError(
                "user_ids, anime_ids and scores must have the same length, got "
                f"{lengths[0]}, {lengths[1]} and {lengths[2]}"
            )

    @classmethod
    def from_arrays(
        cls,
        user_ids: Any,
        anime_ids: Any,
        scores: Any,
        unrated: float | None = -1,
        source: str | None = None,
    ) -> Ratings:
        """Build ratings from three equal-length 1-D sequences.

        Ids may be integers or strings (see :meth:`pyanimf.ids.IdIndex.encode`
        for what is rejected). Scores must be finite numbers: a score equal to
        ``unrated`` marks a row as on the list without a score and is stored
        as NaN, and ``unrated=None`` keeps every score. NaN or infinity in
        ``scores`` raises ValueError naming the position, because the marker is
        the way to mark unrated rows. Repeated (user, anime) pairs and
        isolated scores follow the rules of :func:`load_ratings`.
        """
        _check_unrated(unrated)
        users = _as_id_array(user_ids, "user_ids")
        anime = _as_id_array(anime_ids, "anime_ids")
        values = np.asarray(scores)
        if values.ndim != 1:
            raise ValueError(f"scores must be 1-dimensional, got {values.ndim} dimensions")
        if values.dtype.kind not in "iuf":
            raise TypeError(f"scores must be numbers, got dtype {values.dtype}")
        lengths = (len(users), len(anime), len(values))
        if len(set(lengths)) != 1:
            raise ValueError(
                "user_ids, anime_ids and scores must have the same length, got "
                f"{lengths[0]}, {lengths[1]} and {lengths[2]}"
            )

        exact = values.astype(np.float64)
        not_finite = np.flatnonzero(~np.isfinite(exact))
        if len(not_finite) > 0:
            position = int(not_finite[0])
            how_to_mark = (
                f"write {format(unrated, 'g')} (the unrated marker) for an anime on the list without a score"
                if unrated is not None
                else "pass unrated=-1, or another marker, to mark unrated rows"
            )
            raise ValueError(
                f"scores[{position}] is {values[position].item()!r}; scores must be finite, so {how_to_mark}"
            )
        too_large = np.flatnonzero(np.abs(exact) >= _FLOAT32_OVERFLOW)
        if len(too_large) > 0:
            position = int(too_large[0])
            raise ValueError(f"scores[{position}] is {values[position].item()!r}, out of range for float32")
        result = exact.astype(np.float32)
        if unrated is not None:
            result[exact == unrated] = np.nan
        return cls(*_check_rows(users, anime, result, source or "ratings", resolve_threads(None)), source)

    def __len__(self) -> int:
        return len(self.scores)

    def __repr__(self) -> str:
        return f"Ratings({len(self):,} rows, {self.n_rated:,} rated, source={self.source!r})"

    @property
    def rated(self) -> np.ndarray:
        """Boolean mask of the rows that have a score."""
        mask = np.isnan(self.scores)
        return np.logical_not(mask, out=mask)

    @property
    def n_rated(self) -> int:
        """Number of rows that have a score."""
        # Counted a slice at a time, so that no mask of all rows (a byte a
        # row) adds to the peak memory of a fit.
        unrated = 0
        for start in range(0, len(self.scores), _COUNT_SLICE):
            unrated += int(np.count_nonzero(np.isnan(self.scores[start:start + _COUNT_SLICE])))
        return len(self.scores) - unrated

    def split(self, validation: float = 0.1, seed: int = 0) -> tuple[Ratings, Ratings]:
        """Split into (train, validation) ratings, keeping the row order in each.

        A seeded random ``validation`` fraction of the rated rows goes to the
        validation part. Unrated rows always stay in train, because they have
        no score to validate against. ``validation=0`` returns this object and
        an empty Ratings. Raises ValueError unless 0 <= validation < 1.
        """
        if isinstance(validation, bool) or not isinstance(validation, numbers.Real):
            raise TypeError(f"validation must be a number in [0, 1), got {validation!r}")
        if not 0 <= validation < 1:
            raise ValueError(f"validation must be in [0, 1), got {validation!r}")
        if validation == 0:
            return self, self._take(np.zeros(len(self), dtype=bool))

        rated_rows = np.flatnonzero(self.rated)
        count = int(round(validation * len(rated_rows)))
        rng = np.random.default_rng(seed)
        chosen = rng.choice(rated_rows, size=count, replace=False)
        in_validation = np.zeros(len(self), dtype=bool)
        in_validation[chosen] = True
        return self._take(~in_validation), self._take(in_validation)

    def _take(self, mask: np.ndarray) -> Ratings:
        return Ratings(self.user_ids[mask], self.anime_ids[mask], self.scores[mask], self.source)


def load_ratings(
    path: str | os.PathLike[str] | None = None, *, unrated: float | None = -1.0, threads: int | None = None
) -> Ratings:
    """Read a ratings file, plain or gzip-compressed CSV.

    ``path=None`` reads the bundled MyAnimeList sample (see
    :func:`pyanimf.datasets.bundled_ratings_path`). Each line contains a user
    id, an anime id and a score, separated by commas, tabs, semicolons or
    ``::``. A header line, if present, names the columns (``user_id``,
    ``anime_id``, ``rating`` and common variants, any order, other columns
    ignored). Without one, the first three columns are used in that order.
    A score equal to ``unrated`` (default -1) marks an anime on the user's
    list without a score and is stored as NaN, and ``unrated=None`` keeps
    every score as written.

    Scores are kept as written, fractional or not, on whatever scale the
    file uses; a model predicts within the range of its training scores.
    Two rules apply after parsing:

    - Repeated (user, anime) pairs: the last row of each pair is kept, the
      earlier ones are dropped, and a warning on the ``pyanimf`` logger
      gives their count and the first pair.
    - Isolated scores: with at least 1,000 scores, a warning on the
      ``pyanimf`` logger names the highest or lowest score value when it is
      rare and far from the rest, such as a 100 in a file of 1-10 scores.
      Rare means at most 0.1% of the scores (and at least one) have it. Far
      means its distance to the nearest other score is larger than the
      range of all the other scores. Those rows are kept.

    An id column is integer when every id in it is an optional minus sign
    followed by digits. Integer ids are compared as numbers, so ``007`` and
    ``7`` are the same id. A column with any other id is a string column,
    and its ids are compared as text, so there ``007`` and ``7`` differ.
    Integer id columns have dtype int32 when every integer id of the file
    fits in 32 bits, and int64 otherwise. The native parser then reads the
    file a second time, from the start, when it meets the first id that
    does not fit.

    Integer ids are parsed by the native parser. The parser and the two
    checks above run on ``threads`` threads (default: OMP_NUM_THREADS, else
    the CPUs this process may use), and the result does not depend on the
    thread count. When a file has other ids, such as user names, a slower
    pure-Python parser reads the whole file with the same rules and returns
    string ids for the columns that are not all integers. That parser also
    reads quoted fields that contain the separator, and needs the file to
    be valid UTF-8.

    Raises FileNotFoundError for a missing file and RatingsFormatError for a
    malformed or empty one. The message names the file, the line, the column
    and the value.
    """
    _check_unrated(unrated)
    threads = resolve_threads(threads)
    file_path = bundled_ratings_path() if path is None else Path(os.fspath(path))
    source = str(file_path)

    file, is_gzip = open_data_file(file_path, source)
    with file:
        if is_gzip:
            user_ids, anime_ids, scores = _parse_buffer(read_gzip(file, source), source, unrated, threads)
        elif isinstance(file, io.BytesIO):  # a pipe, read into memory
            user_ids, anime_ids, scores = _parse_buffer(file.getvalue(), source, unrated, threads)
        else:
            user_ids, anime_ids, scores = _parse_file(file, source, unrated, threads)

    if len(scores) == 0:
        raise RatingsFormatError(f"no ratings in {source}: the file is empty or has only a header line")
    ratings = Ratings(*_check_rows(user_ids, anime_ids, scores, source, threads), source)
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            "read %s: %d rows, %d rated, %d unrated, %d users, %d anime",
            source,
            len(ratings),
            ratings.n_rated,
            len(ratings) - ratings.n_rated,
            _count_distinct(user_ids),
            _count_distinct(anime_ids),
        )
    return ratings


def _parse_file(file: BinaryIO, source: str, unrated: float | None, threads: int):
    """Parse an open, uncompressed, seekable file: mapped into memory, or read where it cannot be mapped.

    Files that report size 0 may still have content (Linux's /proc files),
    and some cannot be mapped at all (/sys files), so both are read instead.
    NOTE: a file truncated by another process while it is mapped kills this
    process with SIGBUS. docs/bad-input.md explains how to replace files safely.
    """
    if os.fstat(file.fileno()).st_size > 0:
        try:
            mapped = _map_read_only(file.fileno())
        except (OSError, ValueError):  # cannot be mapped, or truncated to empty since fstat
            pass
        else:
            with mapped:
                return _parse_buffer(mapped, source, unrated, threads, release_text=True)
    file.seek(0)
    return _parse_buffer(file.read(), source, unrated, threads)


def _map_read_only(fileno: int) -> mmap.mmap:
    """Map a whole file read-only.

    The parser reads the mapping a chunk at a time and releases each
    chunk's pages after it, so the file never counts in full in this
    process's memory.
    """
    if hasattr(mmap, "MAP_SHARED"):
        return mmap.mmap(fileno, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    return mmap.mmap(fileno, 0, access=mmap.ACCESS_READ)


def _check_unrated(unrated: object) -> None:
    if unrated is None:
        return
    if isinstance(unrated, bool) or not isinstance(unrated, numbers.Real) or not math.isfinite(unrated):
        raise ValueError(f"unrated must be a finite number or None, got {unrated!r}")


def _check_rows(
    user_ids: np.ndarray, anime_ids: np.ndarray, scores: np.ndarray, source: str, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the repeated-pair rule and the isolated-score check of `load_ratings`."""
    user_ids, anime_ids, scores = _drop_superseded_rows(user_ids, anime_ids, scores, source, threads)
    _warn_isolated_scores(user_ids, anime_ids, scores, source, threads)
    return user_ids, anime_ids, scores


def _drop_superseded_rows(
    user_ids: np.ndarray, anime_ids: np.ndarray, scores: np.ndarray, source: str, threads: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the last row of each (user, anime) pair, warning when any row is dropped."""
    rows = _core.superseded_rows(*_as_integer_keys(user_ids, anime_ids), threads=threads)
    if len(rows) == 0:
        return user_ids, anime_ids, scores
    first = int(rows[0])
    repeated = "1 row repeats" if len(rows) == 1 else f"{len(rows):,} rows repeat"
    logger.warning(
        "%s: %s the (user, anime) pair of a later row, the first for user %r and anime %r; only the last "
        "row of each pair was kept. Remove the repeated rows from the data to silence this warning",
        source, repeated, user_ids[first].item(), anime_ids[first].item(),
    )
    keep = np.ones(len(scores), dtype=bool)
    keep[rows] = False
    return user_ids[keep], anime_ids[keep], scores[keep]


def _as_integer_keys(user_ids: np.ndarray, anime_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return two id columns as integer keys of one dtype, int32 or int64.

    Integer columns of one dtype are returned as they are. A string column
    becomes the int64 codes of its distinct values, and an int32 column
    beside an int64 one is widened.
    """
    keys = [ids if ids.dtype.kind == "i" else np.unique(ids, return_inverse=True)[1].reshape(-1).astype(np.int64)
            for ids in (user_ids, anime_ids)]
    if keys[0].dtype != keys[1].dtype:
        keys = [key.astype(np.int64) for key in keys]
    return keys[0], keys[1]


def _warn_isolated_scores(
    user_ids: np.ndarray, anime_ids: np.ndarray, scores: np.ndarray, source: str, threads: int
) -> None:
    """Warn when the highest or lowest score is rare and farther from the others than their range."""
    extremes = _core.score_extremes(scores, threads=threads)
    scored = extremes["scored"]
    if scored < _ISOLATED_MIN_SCORES:
        return
    max_rows = max(1, int(scored * _ISOLATED_MAX_FRACTION))
    highest, lowest = extremes["highest"], extremes["lowest"]
    # Each end, with the lowest and highest of the other scores.
    for end, low, high in ((highest, lowest["value"], highest["next"]), (lowest, lowest["next"], highest["value"])):
        extreme, count = end["value"], end["count"]
        if count > max_rows:
            # Also the case where every score is equal, which leaves no other scores.
            continue
        gap = extreme - high if extreme > high else low - extreme
        if high == low or gap <= high - low:
            continue
        first = end["first_row"]
        logger.warning(
            "%s: score %g is in %s of %s scored rows, the first for user %r and anime %r, and lies %g away "
            "from the other scores, which range from %g to %g. The rows are kept, and predictions are clipped "
            "to the range of the training scores, so it widens that range. Fix or remove those rows if the "
            "score is a typo, or pass unrated=%g if it marks an anime without a score",
            source, extreme, f"{count:,}", f"{scored:,}", user_ids[first].item(), anime_ids[first].item(),
            gap, low, high, extreme,
        )


def _count_distinct(ids: np.ndarray) -> int:
    if ids.dtype.kind == "i":
        return len(_core.map_ids(ids)[1])
    return len(np.unique(ids))


def _parse_buffer(
    data: Any, source: str, unrated: float | None, threads: int, release_text: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse with the native parser, falling back to the Python parser for string ids.

    `release_text` is for a read-only file mapping only (see _core.parse_ratings).
    """
    unrated_value = None if unrated is None else float(unrated)
    try:
        return _core.parse_ratings(data, source, unrated_value, threads=threads, release_text=release_text)
    except _core.RatingsParseError as error:
        raise RatingsFormatError(str(error)) from None
    except _core.NonIntegerIdError as error:
        logger.info("%s; reading the file again with the slower parser for string ids", error)
    # Outside the except block, so that errors from the fallback do not chain to the signal above.
    return parse_ratings_text(bytes(data), source, unrated_value)


# ---- Pure-Python parser -------------------------------------------------------
#
# The fallback for files with string ids. It follows the rules of
# cpp/io/csv_reader.cpp and writes the same error messages, so change both
# together. Unlike the native parser it also reads fields quoted with double
# quotes that contain the separator.

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SEPARATORS = (",", "\t", ";", "::")
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_NON_FINITE = re.compile(r"[+-]?(?:inf|infinity|nan(?:\([0-9A-Za-z_]*\))?)", re.IGNORECASE)
_INTEGER_ID = re.compile(r"-?[0-9]+")
_FLOAT_FORMATTED_ID = re.compile(r"[+-]?[0-9]+\.[0-9]+")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_MAX_SHOWN_CHARS = 40
_UTF16_PROBE_BYTES = 4096

_USER, _ANIME, _SCORE, _IGNORE = "user id", "anime id", "score", None
_COLUMN_NAMES = {
    _USER: ("user_id", "userId", "user", "uid", "username"),
    _ANIME: ("anime_id", "animeId", "item_id", "itemId", "item", "anime", "movie_id", "movieId", "iid"),
    _SCORE: ("rating", "score", "my_score", "rating_value"),
}


def parse_ratings_text(
    data: bytes, source: str, unrated: float | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse ratings bytes in pure Python, accepting string ids.

    Returns (user_ids, anime_ids, scores float32). An id column is a numpy
    unicode array when any id in it is not an integer. Integer id columns
    are int32 when every integer id of the file fits in 32 bits, and int64
    otherwise, as the native parser gives them.
    Raises RatingsFormatError with the messages of the native parser.
    """
    text = _decode(data, source)
    lines = _LINE_BREAK.split(text)
    first = next((index for index, line in enumerate(lines) if line.strip(" \t")), None)
    if first is None:
        return np.empty(0, np.int32), np.empty(0, np.int32), np.empty(0, np.float32)

    layout = _Layout.from_first_line(lines[first], first + 1, source, unrated)
    first_line_fields = len(lines[first].split(layout.separator))
    data_start = first + 1 if layout.has_header else first
    columns = {_USER: [], _ANIME: [], _SCORE: []}
    all_integer = {_USER: True, _ANIME: True}
    ordered_roles = [(column, role) for column, role in enumerate(layout.roles) if role is not _IGNORE]

    for index in range(data_start, len(lines)):
        line = lines[index]
        if not line.strip(" \t"):
            continue
        line_number = index + 1
        fields = layout.split(line)
        if len(fields) < len(layout.roles):
            raise layout.field_count_error(line, line_number, len(fields))
        for column, role in ordered_roles:
            field = _unquote(fields[column])
            if role is _SCORE:
                columns[_SCORE].append(layout.parse_score(field, line_number, column))
            else:
                is_integer = layout.check_id(field, role, line_number, column)
                all_integer[role] = all_integer[role] and is_integer
                columns[role].append(field)
        if len(fields) != first_line_fields:
            raise layout.other_field_count_error(line_number, len(fields), first_line_fields)

    scores = np.array(columns[_SCORE], dtype=np.float64)
    # NOTE: rounding the double to float32 rounds twice, so a decimal with more
    # than 7 significant digits can, in rare cases, differ in the last bit from
    # the native parser, which rounds the decimal to float32 directly.
    result_scores = scores.astype(np.float32)
    if unrated is not None:
        result_scores[scores == unrated] = np.nan
    user_ids = _id_column(columns[_USER], all_integer[_USER])
    anime_ids = _id_column(columns[_ANIME], all_integer[_ANIME])
    return *_narrow_integer_ids(user_ids, anime_ids), result_scores


def _id_column(values: list[str], all_integer: bool) -> np.ndarray:
    if all_integer:
        return np.array([int(value) for value in values], dtype=np.int64)
    return np.array(values, dtype=str)


def _narrow_integer_ids(*columns: np.ndarray) -> list[np.ndarray]:
    """Return the columns, the int64 ones as int32 when every integer id among them fits in 32 bits."""
    limits = np.iinfo(np.int32)
    integer = [column for column in columns if column.dtype == np.int64 and len(column) > 0]
    if any(column.min() < limits.min or column.max() > limits.max for column in integer):
        return list(columns)
    return [column.astype(np.int32) if column.dtype == np.int64 else column for column in columns]


def _decode(data: bytes, source: str) -> str:
    if data[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise RatingsFormatError(
            f"{source} looks like UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8"
        )
    if b"\0" in data[:_UTF16_PROBE_BYTES]:
        raise RatingsFormatError(f"{source} looks like UTF-16 (it contains NUL bytes); save it as UTF-8")
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = len(_LINE_BREAK.split(data[: error.start].decode("latin-1")))
        raise RatingsFormatError(
            f"{source}, line {line}: invalid UTF-8 byte 0x{data[error.start]:02x}; save the file as UTF-8"
        ) from None


class _Layout:
    """Separator and column roles of one file, with the parsing of its fields."""

    def __init__(
        self, source: str, separator: str, roles: list, header: list[str] | None, unrated: float | None
    ) -> None:
        self.source = source
        self.separator = separator
        self.roles = roles
        self.header = header
        self.has_header = header is not None
        self.unrated = unrated

    @classmethod
    def from_first_line(cls, line: str, line_number: int, source: str, unrated: float | None) -> _Layout:
        counts = [line.count(separator) for separator in _SEPARATORS]
        if max(counts) == 0:
            raise RatingsFormatError(
                f"{source}, line {line_number}: no separator found in {_show(line)}; "
                "separate the user id, anime id and score columns with ',', tab, ';' or '::'"
            )
        separator = _SEPARATORS[counts.index(max(counts))]
        fields = [_unquote(field) for field in line.split(separator)]
        default_roles = [_USER, _ANIME, _SCORE]
        if all(_NUMBER.fullmatch(field) for field in fields):
            return cls(source, separator, default_roles, None, unrated)

        found: dict[str, int] = {}
        for column, field in enumerate(fields):
            key = field.translate(_ASCII_LOWER)
            for role, names in _COLUMN_NAMES.items():
                if key not in (name.translate(_ASCII_LOWER) for name in names):
                    continue
                if role in found:
                    raise RatingsFormatError(
                        f"{source}, line {line_number}: the header names the {role} column twice "
                        f"({_show(fields[found[role]])} in column {found[role] + 1} and {_show(field)} "
                        f"in column {column + 1}); rename or remove one of them"
                    )
                found[role] = column

        if not found and any(_NUMBER.fullmatch(field) for field in fields):
            # No known column name but a number: data with string ids or with
            # an invalid value, which the row parser reports.
            return cls(source, separator, default_roles, None, unrated)
        missing = [role for role in _COLUMN_NAMES if role not in found]
        if missing:
            accepted = "; ".join(f"{role}: {', '.join(names)}" for role, names in _COLUMN_NAMES.items())
            raise RatingsFormatError(
                f"{source}, line {line_number}: the header {', '.join(_show(field) for field in fields)} "
                f"has no {_join_alternatives(missing)} column. Accepted names (case-insensitive): {accepted}. "
                "Rename the header fields, or remove the header line if the first three columns are "
                "user id, anime id and score"
            )
        roles: list = [_IGNORE] * (max(found.values()) + 1)
        for role, column in found.items():
            roles[column] = role
        return cls(source, separator, roles, fields[: len(roles)], unrated)

    def split(self, line: str) -> list[str]:
        if self.separator != "::" and '"' in line:
            return next(csv.reader([line], delimiter=self.separator, skipinitialspace=True))
        return line.split(self.separator)

    def column_label(self, column: int) -> str:
        if self.header is not None:
            return f"column {_show(self.header[column])}"
        return f"column {column + 1} ({self.roles[column]})"

    def line_error(self, line_number: int, problem: str) -> RatingsFormatError:
        return RatingsFormatError(f"{self.source}, line {line_number}: {problem}")

    def field_error(self, line_number: int, column: int, problem: str) -> RatingsFormatError:
        return RatingsFormatError(f"{self.source}, line {line_number}, {self.column_label(column)}: {problem}")

    def other_field_count_error(self, line_number: int, found: int, expected: int) -> RatingsFormatError:
        # Most often a decimal comma in a comma-separated file, which would
        # otherwise shift the score silently.
        hint = "; every line needs the same columns as the first"
        if self.separator == ",":
            hint += ", and a score with a decimal comma must be written with '.' instead"
        return self.line_error(
            line_number,
            f"found {found} fields separated by {_separator_label(self.separator)}, but the first line has "
            f"{expected}{hint}",
        )

    def field_count_error(self, line: str, line_number: int, found: int) -> RatingsFormatError:
        for other in _SEPARATORS:
            if other != self.separator and other in line:
                return self.line_error(
                    line_number,
                    f"this line is separated by {_separator_label(other)} but the first line by "
                    f"{_separator_label(self.separator)}; use one separator in the whole file",
                )
        return self.line_error(
            line_number,
            f"expected at least {len(self.roles)} fields separated by {_separator_label(self.separator)}, "
            f"found {found}; every line needs a user id, an anime id and a score",
        )

    def check_id(self, text: str, role: str, line_number: int, column: int) -> bool:
        """Validate an id field and return whether it is an integer."""
        if not text:
            raise self.field_error(
                line_number,
                column,
                f"missing {role} (empty field); every line needs a user id, an anime id and a score",
            )
        if _INTEGER_ID.fullmatch(text):
            if len(text) > 18 and not -(2**63) <= int(text) < 2**63:
                raise self.field_error(
                    line_number,
                    column,
                    f"id {_show(text)} is outside the 64-bit integer range; ids must be integers from "
                    "-9223372036854775808 to 9223372036854775807, or names",
                )
            return True
        if _FLOAT_FORMATTED_ID.fullmatch(text):
            raise self.field_error(
                line_number,
                column,
                f"float-formatted id {_show(text)}; ids must be integers or names, "
                "so convert the column to integers before saving the file",
            )
        return False

    def score_hint(self) -> str:
        if self.unrated is not None:
            return (
                "scores must be finite decimal numbers such as 8 or 7.5, and "
                f"{format(self.unrated, 'g')} marks an anime on the list without a score"
            )
        return (
            "scores must be finite decimal numbers such as 8 or 7.5 "
            "(no unrated marker is set, so every line needs a score)"
        )

    def parse_score(self, text: str, line_number: int, column: int) -> float:
        """Return the score as a float (double), raising for anything a float32 cannot hold."""
        if not text:
            raise self.field_error(line_number, column, f"missing score (empty field); {self.score_hint()}")
        if _NUMBER.fullmatch(text):
            value = float(text)
            mantissa = re.split("[eE]", text)[0]
            underflow = value == 0 and any(digit in mantissa for digit in "123456789")
            magnitude = abs(value)
            if underflow or magnitude >= _FLOAT32_OVERFLOW or 0 < magnitude <= _FLOAT32_UNDERFLOW:
                raise self.field_error(
                    line_number,
                    column,
                    f"score {_show(text)} is out of range for a 32-bit float; {self.score_hint()}",
                )
            return value
        if _NON_FINITE.fullmatch(text):
            raise self.field_error(
                line_number, column, f"score {_show(text)} is not a finite number; {self.score_hint()}"
            )
        message = f"invalid score {_show(text)}; {self.score_hint()}"
        if _DECIMAL_COMMA.fullmatch(text):
            message += " (write decimals with '.', not ',')"
        raise self.field_error(line_number, column, message)


def _unquote(field: str) -> str:
    """Strip spaces, then one pair of double quotes around a field with no other quote."""
    field = field.strip(" ")
    if len(field) >= 2 and field[0] == '"' and field[-1] == '"' and '"' not in field[1:-1]:
        field = field[1:-1].strip(" ")
    return field


def _show(value: str) -> str:
    """Quote a value for an error message as the native parser does."""
    pieces = []
    for index, char in enumerate(value):
        if index == _MAX_SHOWN_CHARS:
            pieces.append("...")
            break
        code = ord(char)
        printable = 0x20 <= code != 0x7F and not 0xD800 <= code <= 0xDFFF
        pieces.append(char if printable else f"\\x{code & 0xFF:02x}")
    return "'" + "".join(pieces) + "'"


def _separator_label(separator: str) -> str:
    return "tab" if separator == "\t" else f"'{separator}'"


def _join_alternatives(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " or " + items[-1]
