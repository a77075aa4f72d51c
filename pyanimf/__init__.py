"""pyanimf: fast matrix-factorization recommender for anime and other user-item ratings.

>>> from pyanimf import Model, load_ratings
>>> ratings = load_ratings()            # the bundled MyAnimeList sample
>>> model = Model(dim=128).fit(ratings, validation=0.1)
>>> model.recommend(1, n=5)
"""

from pyanimf import _core
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
