"""Model files: a NumPy ``.npz`` archive with a JSON header, read without pickle.

Members of the archive:

- ``header``: UTF-8 JSON as a uint8 array, with ``format`` ("pyanimf-model"),
  ``version`` (FORMAT_VERSION), ``dim``, ``n_users``, ``n_anime``, the
  training ``settings``, the score ``scale`` (shift, scale, low, high), the
  output layer (``weight``, ``bias``), ``global_mean``, and the training
  ``history`` (one object per epoch, the fields of EpochRecord) with the
  kept ``best_epoch`` (both optional: missing means none);
- ``user_factors`` (n_users x dim float32), ``anime_factors`` (n_anime x dim
  float32), ``user_bias``, ``anime_bias`` (float32);
- ``user_scale`` (n_users float32, positive), from version 3 on. Version 1
  and 2 files have neither it nor the ``user_scale`` setting, and load with
  ``user_scale=False`` and every scale 1.0, which is how they were trained.
  The ``implicit`` and ``implicit_learning_rate`` settings come with version
  4; older files load with ``implicit=False``. A model trained with the
  implicit term stores ``x_u + z_u`` as its user factors, so no further
  array is needed to predict;
- ``user_ids``, ``anime_ids``: the original ids in row order, int64 or a
  unicode string array;
- ``seen_indptr`` (int64, n_users + 1) and ``seen_anime``: for each user, the
  indices of the anime they rated or listed, in CSR form. ``seen_anime`` is
  uint16 when there are at most 65,536 anime, which halves the largest
  member of a model trained on many ratings, and int32 otherwise. Version 1
  files always have int32.

Files are written to a temporary file beside the target and renamed over it,
so an existing model file is never left half-written.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tokenize
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from pyanimf import _core
from pyanimf.errors import ModelFileError
from pyanimf.files import atomic_binary_file
from pyanimf.ids import IdIndex
from pyanimf.scaling import ScoreScale
from pyanimf.training import EpochRecord

FORMAT_NAME = "pyanimf-model"
FORMAT_VERSION = 4
# Maximum number of anime whose indices fit in the uint16 seen lists of version 2.
NARROW_SEEN_LIMIT = 65536
SETTINGS = (
    "dim", "epochs", "learning_rate", "regularization", "bias_regularization",
    "biases", "output", "seed", "grid_size", "init_std", "dense_learning_rate",
    "early_stopping", "patience", "user_scale", "implicit", "implicit_learning_rate",
)
# The settings each format version added, with the value that matches how
# files of earlier versions were trained.
SETTINGS_ADDED_IN = {
    3: {"user_scale": False},
    4: {"implicit": False, "implicit_learning_rate": None},
}
ARRAYS = (
    "user_factors", "anime_factors", "user_bias", "anime_bias",
    "user_ids", "anime_ids", "seen_indptr", "seen_anime",
)
# Arrays that files before version 3 lack; a missing user_scale means all 1.0.
ARRAYS_FROM_VERSION_3 = ("user_scale",)


def save_model(model, path) -> None:
    """Write `model` to `path` (conventionally ending in ``.npz``) atomically."""
    path = Path(path)
    arrays = model._arrays
    header = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "n_users": int(arrays.n_users),
        "n_anime": int(arrays.n_items),
        "settings": {name: getattr(model, name) for name in SETTINGS},
        "scale": model._scale.to_dict(),
        "weight": float(model._weight),
        "bias": float(model._bias),
        "global_mean": float(arrays.global_mean),
        "history": [dataclasses.asdict(record) for record in model.history_],
        "best_epoch": int(model.best_epoch_),
    }
    indptr, seen = model._seen
    members = {
        "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
        "user_factors": arrays.user_factors,
        "anime_factors": arrays.item_factors,
        "user_bias": arrays.user_bias,
        "anime_bias": arrays.item_bias,
        "user_scale": arrays.user_scale,
        "user_ids": model._users.ids,
        "anime_ids": model._anime.ids,
        "seen_indptr": indptr,
        "seen_anime": seen,
    }
    stored_as = {"seen_anime": np.uint16 if arrays.n_items <= NARROW_SEEN_LIMIT else np.int32}
    with atomic_binary_file(path) as stream:
        _write_archive(stream, members, stored_as)


# Bytes of an array converted and written at a time by _write_archive.
_WRITE_CHUNK_BYTES = 16 << 20


def _write_archive(stream, members: dict, stored_as: dict) -> None:
    """Write arrays as an uncompressed ``.npz`` archive, as ``np.savez`` does.

    ``stored_as`` maps some member names to the dtype to store them as. Each
    array is written from its own memory in chunks of 16 MiB, converted
    chunk by chunk where it is stored as another dtype, so no member is
    copied whole. ``np.savez`` copies every chunk, and a conversion before
    it would copy the whole array.
    """
    with zipfile.ZipFile(stream, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in members.items():
            dtype = np.dtype(stored_as.get(name, array.dtype))
            with archive.open(f"{name}.npy", mode="w", force_zip64=True) as member:
                _write_npy(member, array, dtype)


def _write_npy(member, array: np.ndarray, dtype: np.dtype) -> None:
    """Write one ``.npy`` file: the version 1.0 header, then the values in C order as `dtype`."""
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": array.shape}
    np.lib.format.write_array_header_1_0(member, header)
    # A strided view, such as a factor matrix with padded rows, is copied here.
    values = np.ascontiguousarray(array).reshape(-1)
    step = max(1, _WRITE_CHUNK_BYTES // max(values.itemsize, 1))
    for start in range(0, len(values), step):
        chunk = values[start : start + step].astype(dtype, copy=False)
        member.write(chunk.view(np.uint8).data)


def load_model(path):
    """Read a model file written by `save_model`; raises ModelFileError if it is not one.

    Every check runs before the model is built. It covers the format name,
    the version, the header's types and ranges, each array's dtype and
    shape, finite values and consistent seen lists. Shapes are read from
    each .npy header before its data, so a corrupt shape cannot request a
    huge allocation. Arrays of Python objects are rejected, so nothing is
    unpickled.
    """
    from pyanimf.model import Model

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a model file; give the path of a file written by fit")
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    members = _read_members(path)
    header = _read_header(path, members)
    _check_members(path, members, header)
    settings = {**_settings_missing_from(header["version"]), **header["settings"]}
    try:
        model = Model(**{name: settings[name] for name in SETTINGS})
        users = IdIndex.from_ids(members["user_ids"])
        anime = IdIndex.from_ids(members["anime_ids"])
    except (TypeError, ValueError) as error:
        raise ModelFileError(f"{path}: invalid value in the model file ({error}); the file is corrupt") from None

    arrays = _core.ModelArrays(header["n_users"], header["n_anime"], settings["dim"])
    arrays.user_factors[:] = members["user_factors"]
    arrays.item_factors[:] = members["anime_factors"]
    arrays.user_bias[:] = members["user_bias"]
    arrays.item_bias[:] = members["anime_bias"]
    if header["version"] >= 3:
        arrays.user_scale[:] = members["user_scale"]
    arrays.global_mean = header["global_mean"]
    model._arrays = arrays
    model._users = users
    model._anime = anime
    model._scale = ScoreScale(**header["scale"])
    model._weight = header["weight"]
    model._bias = header["bias"]
    model._seen = (members["seen_indptr"].astype(np.int64), members["seen_anime"].astype(np.int32))
    model.history_, model.best_epoch_ = _read_history(path, header)
    return model


def _read_history(path: Path, header: dict):
    """Return (history, best epoch) from the header; files without them give ([], 0)."""
    records = header.get("history", [])
    best_epoch = header.get("best_epoch", 0)
    fields = [field.name for field in dataclasses.fields(EpochRecord)]
    try:
        history = [EpochRecord(**{name: record[name] for name in fields}) for record in records]
    except (TypeError, KeyError) as error:
        raise ModelFileError(f"{path}: the training history in the header is corrupt ({error})") from None
    for record in history:
        figures = [record.train_rmse, record.seconds, record.idle_fraction]
        if record.validation_rmse is not None:
            figures.append(record.validation_rmse)
        if not _is_int(record.epoch) or not all(_is_finite_number(value) for value in figures):
            raise ModelFileError(
                f"{path}: the training history in the header is corrupt (a value of {record!r} is not a "
                "finite number); train and save the model again"
            )
    if isinstance(best_epoch, bool) or not isinstance(best_epoch, int) or not 0 <= best_epoch <= len(history):
        raise ModelFileError(f"{path}: best_epoch {best_epoch!r} is not an epoch of the history; the file is corrupt")
    return history, best_epoch


def _read_members(path: Path) -> dict:
    """Read every ``.npy`` member of the archive, checking each header before reading the data."""
    try:
        file_size = path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if info.filename.endswith(".npy"):
                    members[info.filename[: -len(".npy")]] = _read_member(path, archive, info, file_size)
            return members
    except ModelFileError:
        raise
    # numpy parses .npy headers with Python's tokenizer, which raises
    # SyntaxError or tokenize.TokenError on some corrupt bytes.
    except (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, RuntimeError,
            NotImplementedError, SyntaxError, tokenize.TokenError, Warning) as error:
        raise ModelFileError(
            f"{path}: not a readable pyanimf model file ({error}); it may be truncated or corrupt, "
            "so train and save it again"
        ) from None


def _read_member(path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, file_size: int) -> np.ndarray:
    name = info.filename[: -len(".npy")]
    if info.compress_type != zipfile.ZIP_STORED:
        # save_model stores members uncompressed, which also bounds each
        # member's size by the file's size before anything is allocated.
        raise ModelFileError(
            f"{path}: array {name} is compressed, but pyanimf model files store arrays uncompressed; "
            "save the model again with Model.save"
        )
    if info.file_size > file_size:
        raise ModelFileError(
            f"{path}: array {name} claims {info.file_size} bytes in a {file_size}-byte file; "
            "the file is truncated or corrupt"
        )
    with archive.open(info) as stream, warnings.catch_warnings():
        # A corrupt header can name a dtype that numpy only warns about, such
        # as a deprecated alias. _read_members reports the warning as corrupt.
        warnings.simplefilter("error")
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ModelFileError(f"{path}: array {name} has .npy format version {version}, expected 1.0 or 2.0")
        if dtype.hasobject:
            raise ModelFileError(
                f"{path}: array {name} has dtype {dtype}, which contains Python objects; pyanimf model "
                "files never do, and loading them would unpickle code from the file, so it is rejected"
            )
        expected = math.prod(shape) * dtype.itemsize
        available = info.file_size - stream.tell()
        if expected != available:
            raise ModelFileError(
                f"{path}: array {name} has shape {shape} and dtype {dtype}, so {expected} bytes of data, but "
                f"the archive holds {available}; the file is truncated or corrupt"
            )
        data = stream.read(expected)
    if len(data) != expected:
        raise ModelFileError(f"{path}: array {name} ends early; the file is truncated")
    return np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran_order else "C")


def _read_header(path: Path, members: dict) -> dict:
    if "header" not in members:
        raise ModelFileError(f"{path}: not a pyanimf model file (no header member)")
    raw = members["header"]
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise ModelFileError(f"{path}: the model header is corrupt (expected 1-D uint8 bytes, got {raw.dtype})")
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ModelFileError(f"{path}: the model header is corrupt ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a pyanimf model file (format is not {FORMAT_NAME!r})")
    version = header.get("version")
    if not _is_int(version) or version > FORMAT_VERSION or version < 1:
        newer = _is_int(version) and version > FORMAT_VERSION
        raise ModelFileError(
            f"{path}: model format version {version!r} is not supported (this pyanimf reads "
            f"versions 1 to {FORMAT_VERSION}); "
            + ("upgrade pyanimf to read it" if newer else "the file is corrupt, so train and save the model again")
        )
    required = ("n_users", "n_anime", "settings", "scale", "weight", "bias", "global_mean")
    missing = [key for key in required if key not in header]
    if not isinstance(header.get("settings", {}), dict) or not isinstance(header.get("scale", {}), dict):
        raise ModelFileError(f"{path}: the model header is corrupt (settings and scale must be JSON objects)")
    expected_settings = [key for key in SETTINGS if key not in _settings_missing_from(version)]
    missing += [f"settings.{key}" for key in expected_settings if key not in header.get("settings", {})]
    if missing:
        raise ModelFileError(f"{path}: the model header lacks {', '.join(missing)}")
    _check_header_values(path, header)
    return header


def _settings_missing_from(version: int) -> dict:
    """Return the settings that files of `version` lack, with the values they were trained with."""
    missing = {}
    for added_in, settings in SETTINGS_ADDED_IN.items():
        if version < added_in:
            missing.update(settings)
    return missing


def _check_header_values(path: Path, header: dict) -> None:
    """Check the header's sizes and numbers before any array is allocated from them."""
    limits = {"n_users": (1, 2**31 - 1), "n_anime": (1, 2**31 - 1), "dim": (1, 65536)}
    sizes = {"n_users": header["n_users"], "n_anime": header["n_anime"], "dim": header["settings"]["dim"]}
    for name, value in sizes.items():
        low, high = limits[name]
        if not _is_int(value) or not low <= value <= high:
            raise ModelFileError(
                f"{path}: header value {name} is {value!r}, expected an integer from {low} to {high}; "
                "the file is corrupt"
            )
    scale = header["scale"]
    if set(scale) != {"shift", "scale", "low", "high"}:
        raise ModelFileError(
            f"{path}: header value scale has keys {sorted(scale)}, expected high, low, scale and shift; "
            "the file is corrupt"
        )
    numbers = {"weight": header["weight"], "bias": header["bias"], "global_mean": header["global_mean"]}
    numbers.update({f"scale.{key}": value for key, value in scale.items()})
    for name, value in numbers.items():
        if not _is_finite_number(value):
            raise ModelFileError(f"{path}: header value {name} is {value!r}, expected a finite number; the file is corrupt")
    if not scale["scale"] > 0 or not scale["low"] <= scale["high"]:
        raise ModelFileError(
            f"{path}: header value scale is {scale}, expected scale > 0 and low <= high; the file is corrupt"
        )


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_finite_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer beyond the float range
        return False


def _check_members(path: Path, members: dict, header: dict) -> None:
    required = ARRAYS + (ARRAYS_FROM_VERSION_3 if header["version"] >= 3 else ())
    missing = [name for name in required if name not in members]
    if missing:
        raise ModelFileError(f"{path}: the model file lacks the arrays {', '.join(missing)}")
    n_users, n_anime, dim = header["n_users"], header["n_anime"], header["settings"]["dim"]
    expected = {
        "user_factors": (n_users, dim),
        "anime_factors": (n_anime, dim),
        "user_bias": (n_users,),
        "anime_bias": (n_anime,),
        "user_ids": (n_users,),
        "anime_ids": (n_anime,),
        "seen_indptr": (n_users + 1,),
    }
    if header["version"] >= 3:
        expected["user_scale"] = (n_users,)
    for name, shape in expected.items():
        if members[name].shape != tuple(shape):
            raise ModelFileError(
                f"{path}: array {name} has shape {members[name].shape}, expected {tuple(shape)}; "
                "the file is corrupt"
            )
    _check_dtypes(path, members, header["version"])
    for name in ("user_factors", "anime_factors", "user_bias", "anime_bias"):
        if not np.isfinite(members[name]).all():
            raise ModelFileError(f"{path}: array {name} contains NaN or infinity; the file is corrupt")
    if header["version"] >= 3:
        user_scale = members["user_scale"]
        if not (np.isfinite(user_scale) & (user_scale > 0)).all():
            raise ModelFileError(f"{path}: array user_scale contains a value that is not a positive finite number; "
                                 "the file is corrupt")
    indptr, seen = members["seen_indptr"], members["seen_anime"]
    if (
        seen.ndim != 1 or indptr[0] != 0 or indptr[-1] != len(seen)
        or np.any(np.diff(indptr) < 0) or (len(seen) and (seen.min() < 0 or seen.max() >= n_anime))
    ):
        raise ModelFileError(f"{path}: the seen-anime lists are inconsistent; the file is corrupt")


def _check_dtypes(path: Path, members: dict, version: int) -> None:
    """Check that each array has a dtype save_model writes (any byte order)."""
    kinds = {
        "user_factors": "float32", "anime_factors": "float32", "user_bias": "float32", "anime_bias": "float32",
        "user_ids": "int64 or str", "anime_ids": "int64 or str", "seen_indptr": "int64",
        "seen_anime": "int32 or uint16",
    }
    if version >= 3:
        kinds["user_scale"] = "float32"
    for name, expected in kinds.items():
        dtype = members[name].dtype
        if expected == "int64 or str":
            valid = dtype.kind == "U" or (dtype.kind == "i" and dtype.itemsize == 8)
        elif expected == "int32 or uint16":
            valid = dtype.newbyteorder("=") in (np.dtype(np.int32), np.dtype(np.uint16))
        else:
            valid = dtype.kind in "fi" and dtype.newbyteorder("=") == np.dtype(expected)
        if not valid:
            raise ModelFileError(f"{path}: array {name} has dtype {dtype}, expected {expected}; the file is corrupt")
