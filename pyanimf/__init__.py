"""pyanimf: fast matrix-factorization recommender for anime and other user-item ratings.

>>> from pyanimf import Model, load_ratings
>>> ratings = load_ratings()            # the bundled MyAnimeList sample
>>> model = Model(dim=128).fit(ratings, validation=0.1)
>>> model.recommend(1, n=5)
"""

try:
    from pyanimf import _core
except ImportError as _error:
    import pathlib

    # Python run in a source checkout imports this folder, which has no
    # built core, before an installed pyanimf. The error explains that
    # instead of Python's "partially initialized module" message.
    _folder = pathlib.Path(__file__).parent
    if not any(_folder.glob("_core*")):
        raise ImportError(
            f"pyanimf's compiled core (_core) is missing from {_folder}. This looks like the "
            "source folder, which Python imports before an installed pyanimf when it runs from the repository "
            "root (as `python -m pytest` does). Run `pytest` instead, run from another folder, or build the "
            "core with `pip install .`"
        ) from _error
    raise

from pyanimf.errors import ModelFileError, RatingsFormatError, TrainingDivergedError
from pyanimf.model import Evaluation, FitReport, Model
from pyanimf.ratings import Ratings, load_ratings
from pyanimf.training import EpochRecord

__version__ = "0.1.0"

__all__ = [
    "EpochRecord",
    "Evaluation",
    "FitReport",
    "Model",
    "ModelFileError",
    "Ratings",
    "RatingsFormatError",
    "TrainingDivergedError",
    "build_info",
    "load_ratings",
]


def build_info() -> dict:
    """Return the native core's build: OpenMP on or off, and the SIMD kernels this CPU runs, best first."""
    return {
        "openmp": bool(_core.openmp_enabled),
        "openmp_version": int(_core.openmp_version),
        "kernels": list(_core.available_kernels()),
        "simd": _core.available_kernels()[0],
    }
