"""Run one SGD epoch over the bundled sample, for instruction counts under callgrind.

    valgrind --tool=callgrind --callgrind-out-file=cg.out python3 bench/one_epoch.py avx2
    callgrind_annotate --inclusive=yes cg.out | grep run_epoch

The argument names the kernel set (scalar, avx2; valgrind 3.19 cannot run
AVX-512). One thread, so the count does not depend on scheduling.
"""

import sys

import numpy as np

from pyanimf import _core, load_ratings
from pyanimf.ids import IdIndex
from pyanimf.model import automatic_grid_size


def main() -> None:
    kernel = sys.argv[1] if len(sys.argv) > 1 else "auto"
    ratings = load_ratings()
    rated = ratings.rated
    users, user_rows = IdIndex.encode(ratings.user_ids[rated])
    anime, anime_rows = IdIndex.encode(ratings.anime_ids[rated])
    scores = ((ratings.scores[rated] - 7.8) / 1.5).astype(np.float32)
    grid = _core.BlockGrid(user_rows, anime_rows, scores, len(users), len(anime), automatic_grid_size(len(anime), 128), 0)
    arrays = _core.ModelArrays(len(users), len(anime), 128)
    arrays.user_factors[:] = 0.01
    arrays.item_factors[:] = 0.01
    result = _core.run_epoch(grid, arrays, _core.SgdSettings(), 1.0, 0.0, kernel=kernel, threads=1)
    print(f"kernel {result['kernel']}: {result['count']} rating updates")


if __name__ == "__main__":
    main()
