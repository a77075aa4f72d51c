"""Atomic file writing: a temporary file beside the target, renamed over it."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Iterator, TextIO


def _read_umask() -> int:
    # os.umask can only be read by setting it, so it is read once, at import,
    # rather than on each save where another thread might create a file in
    # between.
    umask = os.umask(0)
    os.umask(umask)
    return umask


_UMASK = _read_umask()


def check_output_path(path) -> Path:
    """Check that a file can be written at `path`, as far as its folder goes, and return the folder.

    Raises IsADirectoryError when `path` is a folder, FileNotFoundError when
    its folder is missing and NotADirectoryError when the folder is a file,
    each naming `path`. A command calls it to fail before its work instead
    of at the end.
    """
    path = Path(path)
    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
    if directory.exists() and not directory.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{directory} is a file, not a folder", str(path))
    if not directory.is_dir():
        raise FileNotFoundError(errno.ENOENT, f"Folder {directory} not found", str(path))
    return directory


@contextlib.contextmanager
def atomic_binary_file(path) -> Iterator[BinaryIO]:
    """Open a temporary file beside `path` for writing; on success rename it to `path`.

    On an exception the temporary file is removed and an existing `path` is
    left as it was. An OSError that names no file or the temporary one,
    such as a full disk, is raised again naming `path`, with a note when an
    existing file was kept. A symbolic link is written through, as open()
    would: its target is replaced and the link stays.
    """
    path = Path(path)
    check_output_path(path)
    target = Path(os.path.realpath(path))
    directory = check_output_path(target)
    temporary = None
    prefix = f".{target.name}."
    try:
        handle, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        # mkstemp creates the file readable by its owner only; give it the
        # permissions a plain open() would.
        os.chmod(temporary, 0o666 & ~_UMASK)
        with os.fdopen(handle, "wb") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except OSError as error:
        _remove(temporary)
        # mkstemp's own errors name the temporary file it tried to create.
        names_temporary = error.filename is None or Path(os.fsdecode(error.filename)).name.startswith(prefix)
        if not names_temporary or error.errno is None:
            raise
        note = " (the existing file was left as it was)" if path.exists() else ""
        raise OSError(error.errno, f"{error.strerror}{note}", str(path)) from error
    except BaseException:
        _remove(temporary)
        raise


def _remove(temporary) -> None:
    if temporary is not None:
        Path(temporary).unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_text_file(path) -> Iterator[TextIO]:
    """Like `atomic_binary_file`, for UTF-8 text with LF line ends."""
    import io

    with atomic_binary_file(path) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        yield text
        text.flush()
        text.detach()
