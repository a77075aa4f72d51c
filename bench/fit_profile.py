"""Measure the shape of a real ratings file and save it as a profile for synth.py.

A profile is a small JSON file with the statistics that synth.py resamples:
the (rows, unrated rows) pair of every user, the number of rows of every
anime, the histogram of the scores and the id ranges. It contains counts only,
no user's ratings. The profiles in bench/profiles/ were made with:

    python bench/fit_profile.py rating.csv --catalogue 12294 \
        --description "..." -o bench/profiles/kaggle2017.json
    python bench/fit_profile.py rating_complete_head.csv --catalogue 16872 \
        --drop-last-user --description "..." -o bench/profiles/kaggle2020.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratings_csv import read_ratings  # noqa: E402

UNRATED = -1
SCORES = range(1, 11)


def build_profile(
    path: Path, catalogue: int | None, drop_last_user: bool, description: str
) -> dict:
    """Return the profile of the ratings file at `path` as a JSON-ready dict.

    Raises ValueError when a score is neither an integer from 1 to 10 nor the
    -1 unrated marker, or when `catalogue` is smaller than the number of
    anime in the file.
    """
    user_ids, anime_ids, scores = read_ratings(path)
    if drop_last_user:
        # A file cut after N lines may end in the middle of its last user's rows.
        keep = user_ids != user_ids[-1]
        user_ids, anime_ids, scores = user_ids[keep], anime_ids[keep], scores[keep]

    valid = (scores == UNRATED) | np.isin(scores, np.array(SCORES, dtype=np.float64))
    if not valid.all():
        bad = int(np.flatnonzero(~valid)[0])
        raise ValueError(f"{path}: score {scores[bad]!r} in data row {bad + 1} is not an integer from 1 to 10 or -1")

    _, user_codes, user_rows = np.unique(user_ids, return_inverse=True, return_counts=True)
    user_unrated = np.bincount(user_codes, weights=scores == UNRATED, minlength=len(user_rows)).astype(np.int64)
    _, anime_rows = np.unique(anime_ids, return_counts=True)
    catalogue = len(anime_rows) if catalogue is None else catalogue
    if catalogue < len(anime_rows):
        raise ValueError(f"--catalogue {catalogue} is smaller than the {len(anime_rows)} anime in {path}")

    user_pairs, user_pair_counts = np.unique(np.column_stack([user_rows, user_unrated]), axis=0, return_counts=True)
    anime_degrees, anime_degree_counts = np.unique(anime_rows, return_counts=True)
    score_counts = [int(np.count_nonzero(scores == score)) for score in SCORES]
    return {
        "description": description,
        "rows": int(len(scores)),
        "users": int(len(user_rows)),
        "anime": int(len(anime_rows)),
        "catalogue_anime": int(catalogue),
        "first_user_id": int(user_ids.min()),
        "max_anime_id": int(anime_ids.max()),
        "score_counts": dict(zip([str(score) for score in SCORES], score_counts)),
        "user_rows_unrated_count": [[int(rows), int(unrated), int(count)]
                                    for (rows, unrated), count in zip(user_pairs, user_pair_counts)],
        "anime_rows_count": [[int(degree), int(count)]
                             for degree, count in zip(anime_degrees, anime_degree_counts)],
    }


def format_profile(profile: dict) -> str:
    """Serialise a profile as JSON with one top-level key per line, so that diffs stay readable."""
    lines = [f"  {json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}" for key, value in profile.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("ratings", type=Path, help="real ratings CSV: user_id,anime_id,rating with -1 for unrated")
    parser.add_argument("-o", "--output", type=Path, required=True, help="profile JSON file to write")
    parser.add_argument("--catalogue", type=int, default=None,
                        help="number of anime in the full data set that the file was sampled from "
                             "(default: the anime seen in the file)")
    parser.add_argument("--drop-last-user", action="store_true",
                        help="leave out the last user, for a file cut after a fixed number of lines")
    parser.add_argument("--description", default="", help="where the file comes from, stored in the profile")
    args = parser.parse_args(argv)

    try:
        profile = build_profile(args.ratings, args.catalogue, args.drop_last_user, args.description)
    except (OSError, ValueError) as error:
        parser.error(str(error))
    args.output.write_text(format_profile(profile))
    print(f"wrote {args.output}: {profile['users']:,} users, {profile['anime']:,} anime, {profile['rows']:,} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
