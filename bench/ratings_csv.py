"""Read and write `user_id,anime_id,rating` CSV files quickly with numpy.

Shared by the benchmark scripts in this folder. Ids must be integers, and
the writer is only as general as the benchmark files need: integer ids and
integer scores take the fast path, anything else goes through np.savetxt.
"""

from __future__ import annotations

import gzip
import os
from typing import BinaryIO, TextIO

import numpy as np

HEADER = b"user_id,anime_id,rating\n"

_ZERO = ord("0")
_MINUS = ord("-")
_NEWLINE = ord("\n")


def read_ratings(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read a ratings CSV and return (user_ids int64, anime_ids int64, scores float64).

    The file may be gzip-compressed. The first three columns are user id,
    anime id and score, and a first line that is not numeric is the header.
    Unrated markers such as -1 are returned as they are. Raises ValueError
    when a line does not parse.
    """
    with _open_text(path) as file:
        skip = 0 if _is_numeric_line(file.readline()) else 1
    try:
        with _open_text(path) as file:
            table = np.loadtxt(file, delimiter=",", skiprows=skip, usecols=(0, 1, 2), dtype=np.int64, ndmin=2)
        return table[:, 0].copy(), table[:, 1].copy(), table[:, 2].astype(np.float64)
    except ValueError:
        # Scores with decimals: slower, but still parsed by numpy's C reader.
        pass
    fields = [("user_id", np.int64), ("anime_id", np.int64), ("score", np.float64)]
    with _open_text(path) as file:
        table = np.loadtxt(file, delimiter=",", skiprows=skip, usecols=(0, 1, 2), dtype=fields, ndmin=1)
    return table["user_id"].copy(), table["anime_id"].copy(), table["score"].copy()


def _open_text(path: str | os.PathLike[str]) -> TextIO:
    """Open a file as text, decompressing it when it starts with the gzip magic bytes."""
    with open(path, "rb") as file:
        compressed = file.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if compressed else open(path)


def write_ratings(
    path: str | os.PathLike[str],
    user_ids: np.ndarray,
    anime_ids: np.ndarray,
    scores: np.ndarray,
    *,
    header: bool = True,
    separator: str = ",",
) -> None:
    """Write ratings as CSV lines `user,anime,score`, with the usual header by default."""
    with open(path, "wb") as file:
        if header:
            file.write(HEADER.replace(b",", separator.encode()))
        write_rows(file, user_ids, anime_ids, scores, separator=separator)


def write_rows(
    file: BinaryIO,
    user_ids: np.ndarray,
    anime_ids: np.ndarray,
    scores: np.ndarray,
    *,
    separator: str = ",",
    chunk_rows: int = 1_000_000,
) -> None:
    """Append rating lines to an open binary file, `chunk_rows` lines at a time."""
    scores = np.asarray(scores)
    integral = scores.dtype.kind in "iu" or bool(np.all(np.floor(scores) == scores))
    for start in range(0, len(user_ids), chunk_rows):
        stop = start + chunk_rows
        if integral:
            file.write(format_integer_rows(
                user_ids[start:stop], anime_ids[start:stop], scores[start:stop], separator
            ))
        else:
            columns = np.column_stack([user_ids[start:stop], anime_ids[start:stop], scores[start:stop]])
            np.savetxt(file, columns, fmt=["%d", "%d", "%.9g"], delimiter=separator)


def format_integer_rows(
    user_ids: np.ndarray, anime_ids: np.ndarray, scores: np.ndarray, separator: str = ","
) -> bytes:
    """Format rows of three integers as text lines, without a Python loop per row.

    Ids must be non-negative and scores may be negative (the -1 unrated
    marker). Each row is first laid out in a fixed-width byte matrix, right
    aligned, and a mask then drops the unused leading positions, so that
    indexing the matrix with the mask yields the lines in order.
    """
    if len(user_ids) == 0:
        return b""
    if separator not in (",", " ", "\t"):
        raise ValueError(f"separator must be ',', ' ' or a tab, got {separator!r}")
    user_ids = np.asarray(user_ids, dtype=np.int64)
    anime_ids = np.asarray(anime_ids, dtype=np.int64)
    scores = np.asarray(scores).astype(np.int64)
    if user_ids.min() < 0 or anime_ids.min() < 0:
        raise ValueError("ids must be non-negative to use the integer formatter")

    columns = [_digit_columns(user_ids), _separator_column(len(scores), separator)]
    columns += [_digit_columns(anime_ids), _separator_column(len(scores), separator)]
    negative = scores < 0
    columns.append((np.full((len(scores), 1), _MINUS, np.uint8), negative[:, None]))
    columns.append(_digit_columns(np.abs(scores)))
    columns.append((np.full((len(scores), 1), _NEWLINE, np.uint8), np.ones((len(scores), 1), bool)))

    characters = np.hstack([chars for chars, _ in columns])
    keep = np.hstack([mask for _, mask in columns])
    return characters[keep].tobytes()


def _digit_columns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the right-aligned decimal digits of non-negative integers and the mask of the used positions."""
    width = max(1, len(str(int(values.max()))))
    digits = np.empty((len(values), width), np.uint8)
    remaining = values.copy()
    for position in range(width - 1, -1, -1):
        remaining, digit = np.divmod(remaining, 10)
        digits[:, position] = digit + _ZERO
    powers = 10 ** np.arange(1, width, dtype=np.int64)
    lengths = 1 + np.searchsorted(powers, values, side="right")
    used = np.arange(width)[None, :] >= (width - lengths)[:, None]
    return digits, used


def _separator_column(rows: int, separator: str) -> tuple[np.ndarray, np.ndarray]:
    return np.full((rows, 1), ord(separator), np.uint8), np.ones((rows, 1), bool)


def _is_numeric_line(line: str) -> bool:
    fields = line.strip().split(",")
    try:
        [float(field) for field in fields[:3]]
    except ValueError:
        return False
    return len(fields) >= 3
