import multiprocessing

import numpy as np
import pytest

from pyanimf import load_ratings


@pytest.fixture(scope="session")
def anime_ratings():
    """The real MyAnimeList sample bundled with the package (520,609 rows)."""
    return load_ratings()


@pytest.fixture(scope="session")
def small_ratings(anime_ratings):
    """The rows of the first 300 users of the bundled sample: real data, fast to train."""
    keep = anime_ratings.user_ids <= 300
    return type(anime_ratings).from_arrays(
        anime_ratings.user_ids[keep],
        anime_ratings.anime_ids[keep],
        np.where(np.isnan(anime_ratings.scores[keep]), -1.0, anime_ratings.scores[keep]),
        unrated=-1,
    )


def _run_forked(target, *args, timeout=60):
    """Run target(*args) in a forked child; return whether it hung (then it is killed) and its exit code."""
    child = multiprocessing.get_context("fork").Process(target=target, args=args)
    child.start()
    child.join(timeout)
    hung = child.is_alive()
    if hung:
        child.kill()
        child.join()
    return hung, child.exitcode


@pytest.fixture
def run_forked():
    """The function that runs a target in a forked child, for tests of fork safety."""
    return _run_forked
