"""Model files: a NumPy ``.npz`` archive with a JSON header, read without pickle.

Members of the archive:

- ``header``: UTF-8 JSON as a uint8 array, with ``format`` ("pyanimf-model"),
  ``version`` (FORMAT_VERSION), ``dim``, ``n_users``, ``n_anime``, the
  training ``settings``, the score ``scale`` (shift, scale, low, high), the
  output layer (``weight``, ``bias``) and ``global_mean``;
- ``user_factors`` (n_users x dim float32), ``anime_factors`` (n_anime x dim
  float32), ``user_bias``, ``anime_bias`` (float32);
- ``user_ids``, ``anime_ids``: the original ids in row order, int64 or a
  unicode string array;
- ``seen_indptr`` (int64, n_users + 1) and ``seen_anime`` (int32): for each
  user, the indices of the anime they rated or listed, in CSR form.

Files are written to a temporary file beside the target and renamed over it,
so an existing model file is never left half-written.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from pyanimf import _core
from pyanimf.errors import ModelFileError
from pyanimf.files import atomic_binary_file
from pyanimf.ids import IdIndex
from pyanimf.scaling import ScoreScale

FORMAT_NAME = "pyanimf-model"
FORMAT_VERSION = 1
SETTINGS = (
    "dim", "epochs", "learning_rate", "regularization", "bias_regularization",
    "biases", "output", "seed", "grid_size", "init_std", "dense_learning_rate",
    "early_stopping", "patience",
)
ARRAYS = (
    "user_factors", "anime_factors", "user_bias", "anime_bias",
    "user_ids", "anime_ids", "seen_indptr", "seen_anime",
)


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
    }
    indptr, seen = model._seen
    members = {
        "header": np.frombuffer(json.dumps(header).encode("utf-8"), dtype=np.uint8),
        "user_factors": np.ascontiguousarray(arrays.user_factors),
        "anime_factors": np.ascontiguousarray(arrays.item_factors),
        "user_bias": np.array(arrays.user_bias),
        "anime_bias": np.array(arrays.item_bias),
        "user_ids": model._users.ids,
        "anime_ids": model._anime.ids,
        "seen_indptr": indptr,
        "seen_anime": seen,
    }
    with atomic_binary_file(path) as stream:
        np.savez(stream, **members)


def load_model(path):
    """Read a model file written by `save_model`; raises ModelFileError if it is not one."""
    from pyanimf.model import Model

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model file not found: {path}")
    try:
        # Opened here rather than by np.load, which leaks the handle when the
        # archive is unreadable.
        with open(path, "rb") as stream, np.load(stream, allow_pickle=False) as archive:
            members = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        raise ModelFileError(
            f"{path}: not a readable pyanimf model file ({error}); it may be truncated or corrupt, "
            "so train and save it again"
        ) from None

    header = _read_header(path, members)
    _check_members(path, members, header)
    settings = header["settings"]
    model = Model(**{name: settings[name] for name in SETTINGS})

    arrays = _core.ModelArrays(header["n_users"], header["n_anime"], settings["dim"])
    arrays.user_factors[:] = members["user_factors"]
    arrays.item_factors[:] = members["anime_factors"]
    arrays.user_bias[:] = members["user_bias"]
    arrays.item_bias[:] = members["anime_bias"]
    arrays.global_mean = header["global_mean"]
    model._arrays = arrays
    model._users = IdIndex.from_ids(members["user_ids"])
    model._anime = IdIndex.from_ids(members["anime_ids"])
    model._scale = ScoreScale(**header["scale"])
    model._weight = header["weight"]
    model._bias = header["bias"]
    model._seen = (members["seen_indptr"].astype(np.int64), members["seen_anime"].astype(np.int32))
    return model


def _read_header(path: Path, members: dict) -> dict:
    if "header" not in members:
        raise ModelFileError(f"{path}: not a pyanimf model file (no header member)")
    try:
        header = json.loads(members["header"].tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{path}: the model header is corrupt ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not a pyanimf model file (format is not {FORMAT_NAME!r})")
    version = header.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: model format version {version!r} is not supported (this pyanimf reads "
            f"version {FORMAT_VERSION}); upgrade pyanimf to read it"
        )
    required = ("n_users", "n_anime", "settings", "scale", "weight", "bias", "global_mean")
    missing = [key for key in required if key not in header]
    missing += [f"settings.{key}" for key in SETTINGS if key not in header.get("settings", {})]
    if missing:
        raise ModelFileError(f"{path}: the model header lacks {', '.join(missing)}")
    return header


def _check_members(path: Path, members: dict, header: dict) -> None:
    missing = [name for name in ARRAYS if name not in members]
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
    for name, shape in expected.items():
        if members[name].shape != tuple(shape):
            raise ModelFileError(
                f"{path}: array {name} has shape {members[name].shape}, expected {tuple(shape)}; "
                "the file is corrupt"
            )
    indptr, seen = members["seen_indptr"], members["seen_anime"]
    if (
        seen.ndim != 1 or indptr[0] != 0 or indptr[-1] != len(seen)
        or np.any(np.diff(indptr) < 0) or (len(seen) and (seen.min() < 0 or seen.max() >= n_anime))
    ):
        raise ModelFileError(f"{path}: the seen-anime lists are inconsistent; the file is corrupt")
