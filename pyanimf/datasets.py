"""The bundled anime data set and readers of anime metadata files."""

from __future__ import annotations

import csv
import errno
import gzip
import html
import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from pyanimf.errors import RatingsFormatError

_DATA_DIR = Path(__file__).resolve().parent / "data"

# Leading bytes of compressed formats, to tell them from text whatever the suffix.
_GZIP_MAGIC = b"\x1f\x8b"
_OTHER_COMPRESSION_MAGIC = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}

_ANIME_ID_COLUMNS = ("anime_id", "animeid", "item_id", "itemid", "item", "anime", "movie_id", "movieid", "iid")
_NAME_COLUMNS = ("name", "title")


def bundled_ratings_path() -> Path:
    """Return the path of the bundled ratings file, ``rating.csv.gz``.

    520,609 MyAnimeList ratings by 5,000 users of 7,390 anime, with -1 where
    the anime is on the user's list without a score. ``data/PROVENANCE.md``
    in the package gives the origin and licence.
    """
    return _bundled_file("rating.csv.gz")


def bundled_anime_path() -> Path:
    """Return the path of the bundled anime metadata file, ``anime.csv.gz``."""
    return _bundled_file("anime.csv.gz")


def load_anime_names(path: str | os.PathLike[str] | None = None) -> dict[int, str]:
    """Read anime names from a metadata file and return them by anime id.

    The file is CSV, plain or gzip-compressed. Its header must name an id
    column (``anime_id`` or another accepted item id name) and a ``name`` or
    ``title`` column, and other columns are ignored. HTML entities in names,
    such as ``&#039;`` in the bundled file, are decoded. ``path=None`` reads
    the bundled ``anime.csv.gz``.

    Raises FileNotFoundError for a missing file and RatingsFormatError for a
    file that cannot be read as anime metadata.
    """
    file_path = bundled_anime_path() if path is None else Path(os.fspath(path))
    source = str(file_path)
    data = read_file_bytes(file_path, source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise RatingsFormatError(
            f"{source}, line {line}: invalid UTF-8 byte 0x{data[error.start]:02x}; save the file as UTF-8"
        ) from None

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise RatingsFormatError(f"no anime in {source}: the file is empty")
    id_column = _find_column(header, _ANIME_ID_COLUMNS, "anime id", source)
    name_column = _find_column(header, _NAME_COLUMNS, "name", source)
    needed = max(id_column, name_column) + 1

    names: dict[int, str] = {}
    first_lines: dict[int, int] = {}
    for row in reader:
        if not row or all(not field.strip() for field in row):
            continue
        if len(row) < needed:
            raise RatingsFormatError(
                f"{source}, line {reader.line_num}: expected at least {needed} fields, found {len(row)}"
            )
        id_text = row[id_column].strip()
        try:
            anime_id = int(id_text)
        except ValueError:
            raise RatingsFormatError(
                f"{source}, line {reader.line_num}, column {header[id_column]!r}: "
                f"anime id {id_text[:40]!r} is not an integer"
            ) from None
        if anime_id in names:
            raise RatingsFormatError(
                f"{source}, line {reader.line_num}: anime id {anime_id} appears again "
                f"(first on line {first_lines[anime_id]}); each anime needs one row"
            )
        names[anime_id] = html.unescape(row[name_column].strip())
        first_lines[anime_id] = reader.line_num
    return names


def read_file_bytes(path: Path, source: str) -> bytes:
    """Read a whole file, decompressing it when its first bytes are a gzip header.

    Raises FileNotFoundError for a missing file and RatingsFormatError for a
    corrupt gzip file or another compression format.
    """
    file, is_gzip = open_data_file(path, source)
    with file:
        return read_gzip(file, source) if is_gzip else file.read()


def open_data_file(path: Path, source: str) -> tuple[BinaryIO, bool]:
    """Open a file for binary reading and return it with whether it is gzip-compressed.

    Compression is detected from the first bytes, not from the suffix. A
    stream that cannot seek, such as a pipe or ``/dev/stdin``, is read into
    memory first and returned as an ``io.BytesIO``. Raises FileNotFoundError
    for a missing file and RatingsFormatError for bzip2, xz, zstd or zip
    data. The caller closes the file.
    """
    if not path.exists():
        raise FileNotFoundError(errno.ENOENT, "file not found", source)
    file = open(path, "rb")
    if not file.seekable():
        with file:
            file = io.BytesIO(file.read())
    head = file.read(6)
    file.seek(0)
    if head.startswith(_GZIP_MAGIC):
        return file, True
    for magic, name in _OTHER_COMPRESSION_MAGIC.items():
        if head.startswith(magic):
            file.close()
            raise RatingsFormatError(
                f"{source} is compressed with {name}, which pyanimf cannot read; "
                "decompress it, or compress it with gzip instead"
            )
    return file, False


def read_gzip(file: BinaryIO, source: str) -> bytes:
    """Decompress a whole gzip file, raising RatingsFormatError when it is corrupt or truncated."""
    try:
        with gzip.GzipFile(fileobj=file, mode="rb") as decompressed:
            return decompressed.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise RatingsFormatError(
            f"{source} is not a valid gzip file ({error}); check that the download is complete"
        ) from None


def _find_column(header: list[str], accepted: tuple[str, ...], role: str, source: str) -> int:
    for column, field in enumerate(header):
        if field.strip().lower() in accepted:
            return column
    raise RatingsFormatError(
        f"{source}, line 1: the header {', '.join(repr(field) for field in header)} has no {role} column; "
        f"accepted names (case-insensitive): {', '.join(accepted)}"
    )


def _bundled_file(name: str) -> Path:
    path = _DATA_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            errno.ENOENT, "bundled data file not found; reinstall pyanimf, as its package data is missing", str(path)
        )
    return path
