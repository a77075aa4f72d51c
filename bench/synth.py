"""Generate SYNTHETIC anime rating files shaped like the real MyAnimeList data.

Every row this script writes is made up. Only the shape of the data comes
from real files, through a profile in bench/profiles/ (see fit_profile.py):

- User activity: each synthetic user copies the row count and unrated share
  of a real user drawn at random. A random factor exp(N(0, 0.15^2)) on the
  count smooths the sample. The counts are then scaled and adjusted so that
  the file has exactly the requested number of rows.
- Anime popularity: the real rank-popularity curve, as a function of the
  rank divided by the catalogue size. Past the least popular anime seen in
  the real sample, it goes on as the exponential decay fitted to the
  sample's tail. Each user's anime are drawn from it without replacement.
- Scores: a latent value bias_user + bias_anime + <p_user, q_anime> + noise,
  with rank-`--rank` factors, cut at thresholds that give the real score
  histogram. A factor model can learn the planted structure, and a model
  with biases only cannot, so RMSE differences mean something.
- Unrated rows: each row of a user is -1 with that user's unrated share.

Output: CSV with the header `user_id,anime_id,rating`, LF line ends, sorted
by user id then anime id, no duplicate (user, anime) pairs, and a side file
`<output>.synthetic.json` with the settings, which compare.py reads to label
its report as synthetic. User ids run
from the profile's first id, anime ids are drawn from a range as sparse as
the real MyAnimeList ids. The same seed and sizes give the same file.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratings_csv import HEADER, format_integer_rows  # noqa: E402

logger = logging.getLogger("pyanimf.bench.synth")

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
UNRATED = -1


@dataclass(frozen=True)
class Preset:
    """Sizes of a synthetic file and the profile it follows."""

    users: int
    anime: int
    rows: int
    profile: str
    unrated: bool


PRESETS = {
    # The full Kaggle 2017 rating.csv: 7,813,737 rows including -1 rows.
    "kaggle2017": Preset(users=73_516, anime=12_294, rows=7_813_737, profile="kaggle2017", unrated=True),
    # The 2020 rating_complete.csv has about 57 million scores and no -1 rows.
    "kaggle2020": Preset(users=310_059, anime=16_872, rows=57_000_000, profile="kaggle2020", unrated=False),
}


@dataclass(frozen=True)
class ScoreModel:
    """Standard deviations of the parts of the latent score, in latent units.

    Only their ratios matter, because the thresholds that turn latent values
    into scores follow the real histogram. With these values the biases
    explain about half of the latent variance, the rank-`rank` interaction
    about a quarter, and the noise the rest. On a 520,609-row file shaped
    like the kaggle2017 sample, held-out RMSE was 1.17 for user and anime
    biases and 1.02 for LIBMF with 128 factors (bench/compare.py, seed 0).
    Rank 32 narrowed that gap to 1.16 against 1.10, because the median user
    has too few rows to pin down 32 factors.
    """

    rank: int = 16
    user_bias: float = 0.6
    anime_bias: float = 0.45
    # Popular anime get higher scores, as in the real data.
    popularity_effect: float = 0.25
    interaction: float = 0.55
    noise: float = 0.5


# Random factor on each resampled user's row count, exp(N(0, USER_JITTER^2)).
USER_JITTER = 0.15
# Users with more rows than this share of the catalogue are sampled by
# exponential keys over the whole catalogue instead of by repeated draws.
DENSE_USER_SHARE = 0.25
# Draws per needed row in the rounds of repeated draws. Users still short of
# distinct anime after the last round get exponential keys as well.
DRAW_OVERSAMPLING = (1.25, 2.5, 5.0)
# Rows per batch of users: bounds the memory of one batch to a few hundred MB.
BATCH_ROWS = 1_000_000
# Rows of the pilot sample used to place the score thresholds.
PILOT_ROWS = 2_000_000
# The popularity tail is fitted where the sample has at least this many
# rows per anime, above the floor of 1 where sampling noise dominates.
TAIL_MIN_ROWS = 3
TAIL_MAX_ROWS = 30
# Weight calibration: bins of users with similar row counts, rounds of
# rescaling, and the largest expected share of users that rate one anime.
CALIBRATION_BINS = 300
CALIBRATION_ROUNDS = 30
CALIBRATION_MAX_SHARE = 0.95


@dataclass
class Profile:
    """Statistics of a real ratings file, expanded from a profile JSON file."""

    name: str
    user_rows: np.ndarray
    user_unrated: np.ndarray
    anime_rows_descending: np.ndarray
    catalogue_anime: int
    first_user_id: int
    max_anime_id: int
    score_shares: np.ndarray

    @classmethod
    def load(cls, name_or_path: str) -> Profile:
        path = Path(name_or_path)
        if not path.suffix:
            path = PROFILE_DIR / f"{name_or_path}.json"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in PROFILE_DIR.glob("*.json")))
            raise FileNotFoundError(f"profile {name_or_path!r} not found at {path}; known profiles: {known}")
        data = json.loads(path.read_text())
        user_table = np.array(data["user_rows_unrated_count"], dtype=np.int64)
        anime_table = np.array(data["anime_rows_count"], dtype=np.int64)
        counts = np.array([data["score_counts"][str(score)] for score in range(1, 11)], dtype=np.float64)
        return cls(
            name=path.stem,
            user_rows=np.repeat(user_table[:, 0], user_table[:, 2]),
            user_unrated=np.repeat(user_table[:, 1], user_table[:, 2]),
            anime_rows_descending=np.repeat(anime_table[:, 0], anime_table[:, 1])[::-1].copy(),
            catalogue_anime=int(data["catalogue_anime"]),
            first_user_id=int(data["first_user_id"]),
            max_anime_id=int(data["max_anime_id"]),
            score_shares=counts / counts.sum(),
        )


# ---- user activity -------------------------------------------------------------


def draw_user_rows(
    rng: np.random.Generator, profile: Profile, users: int, anime: int, rows: int, unrated: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Return each user's row count (summing to `rows`) and probability of an unrated row."""
    picked = rng.integers(0, len(profile.user_rows), size=users)
    reference_rows = profile.user_rows[picked].astype(np.float64)
    unrated_share = profile.user_unrated[picked] / reference_rows if unrated else np.zeros(users)

    scaled_rows = reference_rows * np.exp(rng.normal(0.0, USER_JITTER, size=users))
    scaled_rows *= rows / scaled_rows.sum()
    # Stochastic rounding keeps the mean of small counts right.
    counts = np.floor(scaled_rows + rng.random(users)).astype(np.int64)
    counts = np.clip(counts, 1, anime)
    return _adjust_total(rng, counts, rows, anime), unrated_share


def _adjust_total(rng: np.random.Generator, counts: np.ndarray, rows: int, anime: int) -> np.ndarray:
    """Add or remove single rows, in proportion to each user's count, until the total is `rows`."""
    missing = rows - int(counts.sum())
    while missing != 0:
        room = counts < anime if missing > 0 else counts > 1
        candidates = np.flatnonzero(room)
        weights = counts[candidates] / counts[candidates].sum()
        chosen = rng.choice(candidates, size=abs(missing), p=weights)
        change = np.bincount(chosen, minlength=len(counts))
        counts = np.clip(counts + np.sign(missing) * change, 1, anime)
        missing = rows - int(counts.sum())
    return counts


# ---- anime popularity -------------------------------------------------------------


def popularity_weights(profile: Profile, anime: int) -> np.ndarray:
    """Return the relative popularity of the anime ranked 1..`anime`, most popular first.

    The real curve is a function of the rank divided by the catalogue size,
    so a larger synthetic catalogue follows the same shape. Ranks beyond the
    least popular anime seen in the sample continue the log-linear decay
    fitted to the sample's tail.
    """
    observed = profile.anime_rows_descending.astype(np.float64)
    observed_x = (np.arange(1, len(observed) + 1) - 0.5) / profile.catalogue_anime
    log_rows = np.log(observed)

    tail = (observed >= TAIL_MIN_ROWS) & (observed <= TAIL_MAX_ROWS)
    if np.count_nonzero(tail) < 10:
        raise ValueError(f"profile {profile.name} has too few anime with "
                         f"{TAIL_MIN_ROWS}-{TAIL_MAX_ROWS} rows to fit the popularity tail")
    slope, _ = np.polyfit(observed_x[tail], log_rows[tail], 1)
    # The fitted line starts at the last point above the floor, so the curve is continuous there.
    cut = int(np.flatnonzero(observed >= TAIL_MIN_ROWS)[-1])

    target_x = (np.arange(1, anime + 1) - 0.5) / anime
    log_weights = np.interp(target_x, observed_x[: cut + 1], log_rows[: cut + 1])
    beyond = target_x > observed_x[cut]
    log_weights[beyond] = log_rows[cut] + slope * (target_x[beyond] - observed_x[cut])
    return np.exp(log_weights - log_weights.max())


def calibrate_weights(curve: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Return sampling weights under which the expected rows per anime follow `curve`.

    Drawing without replacement caps every anime at one row per user, so the
    most popular anime get fewer rows than their share of the draws. The
    expected rows of anime i are sum over users of 1 - exp(-lambda_u * w_i),
    where lambda_u solves sum_i (1 - exp(-lambda_u * w_i)) = counts[u]
    (Rosen's approximation of successive sampling). The weights are scaled
    by target / expected until the two agree.
    """
    total = counts.sum()
    target = np.minimum(curve / curve.sum() * total, CALIBRATION_MAX_SHARE * len(counts))
    # Users grouped into about 300 bins of similar row counts keep the work small.
    edges = np.unique(np.round(np.geomspace(1, counts.max() + 1, CALIBRATION_BINS)))
    bins = np.searchsorted(edges, counts, side="right")
    group_users = np.bincount(bins)
    group_rows = np.bincount(bins, weights=counts) / np.maximum(group_users, 1)
    present = group_users > 0
    group_users, group_rows = group_users[present], group_rows[present]
    group_rows = np.minimum(group_rows, len(curve) - 0.5)

    weights = target / target.sum()
    for _ in range(CALIBRATION_ROUNDS):
        rates = _inclusion_rates(weights, group_rows)
        expected = group_users @ -np.expm1(-np.outer(rates, weights))
        weights = weights * target / np.maximum(expected, 1e-12)
        weights /= weights.sum()
    return weights


def _inclusion_rates(weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Solve sum_i (1 - exp(-rate * w_i)) = rows for each entry of `rows` by Newton's method.

    The left side is concave and increasing in rate, and the start
    rows / sum(w) lies below the root, so the iterates rise to it.
    """
    rates = rows / weights.sum()
    for _ in range(60):
        decay = np.exp(-np.outer(rates, weights))
        excess = (1.0 - decay).sum(axis=1) - rows
        slope = decay @ weights
        rates = rates - excess / slope
        if np.all(np.abs(excess) < 1e-6 * rows):
            break
    return rates


def draw_anime_ids(rng: np.random.Generator, profile: Profile, anime: int) -> np.ndarray:
    """Return a sparse anime id for each popularity rank, in random order of id."""
    id_range = max(anime, round(profile.max_anime_id * anime / profile.catalogue_anime))
    ids = rng.choice(id_range, size=anime, replace=False) + 1
    return rng.permutation(ids)


def sample_anime(
    rng: np.random.Generator, counts: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Draw `counts[u]` distinct anime ranks for each user u, weighted by popularity.

    Returns (user index, anime rank) arrays sorted by user. The result is
    weighted sampling without replacement: for most users, the first
    `counts[u]` distinct ranks of independent weighted draws, redrawn with
    more draws for the few users who did not get enough. Users with a large
    share of the catalogue, and users still short after the last round, use
    exponential keys over the whole catalogue.
    """
    anime = len(weights)
    cumulative = np.cumsum(weights)
    dense = counts > DENSE_USER_SHARE * anime
    users_out, anime_out = [], []

    pending = np.flatnonzero(~dense)
    for oversampling in DRAW_OVERSAMPLING:
        if len(pending) == 0:
            break
        needed = counts[pending]
        draws = np.ceil(needed * oversampling).astype(np.int64) + 4
        owner = np.repeat(np.arange(len(pending)), draws)
        drawn = np.searchsorted(cumulative, rng.random(len(owner)) * cumulative[-1], side="right")
        drawn = np.minimum(drawn, anime - 1)

        # First occurrence of each (user, anime) pair, in draw order.
        pair_keys, first_draw = np.unique(owner * anime + drawn, return_index=True)
        pair_keys = pair_keys[np.argsort(first_draw, kind="stable")]
        pair_owner = pair_keys // anime
        distinct = np.bincount(pair_owner, minlength=len(pending))
        order_in_user = np.arange(len(pair_keys)) - (np.cumsum(distinct) - distinct)[pair_owner]
        complete = distinct >= needed
        keep = (order_in_user < needed[pair_owner]) & complete[pair_owner]

        users_out.append(pending[pair_owner[keep]])
        anime_out.append(pair_keys[keep] % anime)
        pending = pending[~complete]

    # Users who need many of the rarely drawn anime would need ever more draws.
    for user in np.concatenate([np.flatnonzero(dense), pending]):
        # Exp(1) / weight: the smallest `count` keys are a weighted sample without replacement.
        keys = rng.exponential(size=anime) / weights
        chosen = np.argpartition(keys, counts[user] - 1)[: counts[user]]
        users_out.append(np.full(len(chosen), user))
        anime_out.append(chosen)

    users, ranks = np.concatenate(users_out), np.concatenate(anime_out)
    order = np.argsort(users, kind="stable")
    return users[order], ranks[order]


# ---- scores -------------------------------------------------------------------


@dataclass
class LatentScores:
    """The planted user and anime parameters of the score model."""

    user_bias: np.ndarray
    anime_bias: np.ndarray
    user_factors: np.ndarray
    anime_factors: np.ndarray
    noise: float

    @classmethod
    def draw(cls, rng: np.random.Generator, users: int, weights: np.ndarray, model: ScoreModel) -> LatentScores:
        log_popularity = np.log(weights)
        popularity = (log_popularity - log_popularity.mean()) / log_popularity.std()
        anime = len(weights)
        return cls(
            user_bias=rng.normal(0.0, model.user_bias, users).astype(np.float32),
            anime_bias=(model.popularity_effect * popularity
                        + rng.normal(0.0, model.anime_bias, anime)).astype(np.float32),
            # Var(<p, q>) = rank * (interaction^2 / rank) * 1 = interaction^2.
            user_factors=rng.normal(0.0, model.interaction / math.sqrt(model.rank),
                                    (users, model.rank)).astype(np.float32),
            anime_factors=rng.normal(0.0, 1.0, (anime, model.rank)).astype(np.float32),
            noise=model.noise,
        )

    def values(self, rng: np.random.Generator, users: np.ndarray, anime: np.ndarray) -> np.ndarray:
        interaction = np.einsum("ij,ij->i", self.user_factors[users], self.anime_factors[anime])
        noise = rng.normal(0.0, self.noise, len(users)).astype(np.float32)
        return self.user_bias[users] + self.anime_bias[anime] + interaction + noise


def score_thresholds(latent_values: np.ndarray, score_shares: np.ndarray) -> np.ndarray:
    """Return the 9 latent cut points that split values into scores 1..10 with the given shares."""
    return np.quantile(latent_values, np.cumsum(score_shares)[:-1])


# ---- the file ---------------------------------------------------------------------


@dataclass
class Summary:
    rows: int = 0
    unrated: int = 0
    anime_seen: np.ndarray | None = None
    score_counts: np.ndarray | None = None


def generate(
    path: Path, users: int, anime: int, rows: int, profile: Profile, unrated: bool, seed: int, model: ScoreModel
) -> Summary:
    """Write a synthetic ratings file to `path` and return what it contains."""
    if users < 1 or anime < 1:
        raise ValueError(f"--users and --anime must be positive, got {users} and {anime}")
    if not users <= rows <= users * anime:
        raise ValueError(f"--rows must be between --users ({users:,}) and users x anime ({users * anime:,}), "
                         f"got {rows:,}; every user has at least one row and no pair repeats")

    setup_seed, pilot_seed, batch_root = np.random.SeedSequence(seed).spawn(3)
    rng = np.random.default_rng(setup_seed)
    counts, unrated_share = draw_user_rows(rng, profile, users, anime, rows, unrated)
    curve = popularity_weights(profile, anime)
    weights = calibrate_weights(curve, counts)
    anime_ids = draw_anime_ids(rng, profile, anime)
    latent = LatentScores.draw(rng, users, curve, model)
    thresholds = _pilot_thresholds(np.random.default_rng(pilot_seed), counts, unrated_share, weights, latent,
                                   profile.score_shares)

    batch_ends = _batch_ends(counts)
    batch_seeds = batch_root.spawn(len(batch_ends))
    summary = Summary(anime_seen=np.zeros(anime, bool), score_counts=np.zeros(11, np.int64))
    partial = path.with_name(path.name + ".partial")
    started = time.perf_counter()
    with open(partial, "wb") as file:
        file.write(HEADER)
        start = 0
        for number, (end, batch_seed) in enumerate(zip(batch_ends, batch_seeds), 1):
            batch_rng = np.random.default_rng(batch_seed)
            text = _batch_text(batch_rng, start, end, counts, unrated_share, weights, anime_ids, latent,
                               thresholds, profile.first_user_id, summary)
            file.write(text)
            start = end
            if number % 10 == 0 or number == len(batch_ends):
                logger.info("users %s/%s, rows %s, %.0f s", f"{end:,}", f"{users:,}", f"{summary.rows:,}",
                            time.perf_counter() - started)
    os.replace(partial, path)
    return summary


def _pilot_thresholds(
    rng: np.random.Generator,
    counts: np.ndarray,
    unrated_share: np.ndarray,
    weights: np.ndarray,
    latent: LatentScores,
    score_shares: np.ndarray,
) -> np.ndarray:
    """Place the score thresholds on latent values of a random subset of users.

    The pilot users' pairs come from the same sampler as the file, so their
    latent values follow the file's distribution and the written histogram
    matches the profile's up to sampling error.
    """
    order = rng.permutation(len(counts))
    pilot_count = int(np.searchsorted(np.cumsum(counts[order]), PILOT_ROWS)) + 1
    pilot_users = np.sort(order[:pilot_count])
    local_users, ranks = sample_anime(rng, counts[pilot_users], weights)
    users = pilot_users[local_users]
    values = latent.values(rng, users, ranks)
    rated = rng.random(len(users)) >= unrated_share[users]
    if not rated.any():
        raise ValueError("the pilot sample has no scored rows; the profile's users have no scores")
    return score_thresholds(values[rated], score_shares)


def _batch_ends(counts: np.ndarray) -> np.ndarray:
    """Return the end index (exclusive) of each batch of consecutive users with about BATCH_ROWS rows."""
    cumulative = np.cumsum(counts)
    ends = np.searchsorted(cumulative, np.arange(BATCH_ROWS, cumulative[-1], BATCH_ROWS), side="left") + 1
    return np.unique(np.append(ends, len(counts)))


def _batch_text(
    rng: np.random.Generator,
    start: int,
    end: int,
    counts: np.ndarray,
    unrated_share: np.ndarray,
    weights: np.ndarray,
    anime_ids: np.ndarray,
    latent: LatentScores,
    thresholds: np.ndarray,
    first_user_id: int,
    summary: Summary,
) -> bytes:
    local_users, ranks = sample_anime(rng, counts[start:end], weights)
    users = local_users + start
    values = latent.values(rng, users, ranks)
    scores = np.searchsorted(thresholds, values).astype(np.int64) + 1
    scores[rng.random(len(users)) < unrated_share[users]] = UNRATED

    ids = anime_ids[ranks]
    order = np.lexsort((ids, users))
    users, ids, scores, ranks = users[order], ids[order], scores[order], ranks[order]

    summary.rows += len(users)
    summary.unrated += int(np.count_nonzero(scores == UNRATED))
    summary.anime_seen[ranks] = True
    summary.score_counts += np.bincount(scores[scores != UNRATED], minlength=11)
    return format_integer_rows(users + first_user_id, ids, scores)


def write_side_file(path: Path, preset: str | None, sizes: dict, profile: str, unrated: bool, rank: int,
                    seed: int, summary: Summary) -> None:
    """Write `<file>.synthetic.json`, from which compare.py labels its reports as synthetic."""
    command = (f"synth.py --users {sizes['users']} --anime {sizes['anime']} --rows {sizes['rows']} "
               f"--profile {profile} --{'' if unrated else 'no-'}unrated --rank {rank} --seed {seed}")
    side_file = {
        "synthetic": True,
        "preset": preset,
        "command": command,
        "rows": summary.rows,
        "unrated_rows": summary.unrated,
        "anime_with_rows": int(summary.anime_seen.sum()),
    }
    path.with_name(path.name + ".synthetic.json").write_text(json.dumps(side_file, indent=2) + "\n")


# ---- command line -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Generate a SYNTHETIC ratings CSV (user_id,anime_id,rating) whose user activity, "
                    "anime popularity, score histogram and unrated share follow real MyAnimeList data. "
                    "No row is real: label every figure measured on these files as synthetic.",
        epilog="presets: " + "; ".join(
            f"{name}: {p.users:,} users, {p.anime:,} anime, {p.rows:,} rows"
            f"{' incl. -1 rows' if p.unrated else ', no -1 rows'}" for name, p in PRESETS.items()),
        allow_abbrev=False,
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), help="sizes and profile of a real data set")
    parser.add_argument("--users", type=int, help="number of users (overrides the preset)")
    parser.add_argument("--anime", type=int, help="number of anime in the catalogue (overrides the preset)")
    parser.add_argument("--rows", type=int, help="number of rows, -1 rows included (overrides the preset)")
    parser.add_argument("--profile", help="profile name in bench/profiles/ or path to a profile JSON file "
                                          "(default: the preset's, else kaggle2017)")
    parser.add_argument("--unrated", action=argparse.BooleanOptionalAction, default=None,
                        help="write -1 rows with the profile's per-user unrated share "
                             "(default: as the preset, else yes)")
    parser.add_argument("--rank", type=int, default=ScoreModel.rank,
                        help="rank of the planted user x anime structure (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("-o", "--output", type=Path, required=True, help="CSV file to write")
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    preset = PRESETS.get(args.preset)
    sizes = {name: getattr(args, name) if getattr(args, name) is not None else getattr(preset, name, None)
             for name in ("users", "anime", "rows")}
    missing = [f"--{name}" for name, value in sizes.items() if value is None]
    if missing:
        parser.error(f"missing {', '.join(missing)}: give --preset or all of --users, --anime and --rows")
    if args.rank < 1:
        parser.error(f"--rank must be at least 1, got {args.rank}")
    unrated = args.unrated
    if unrated is None:
        unrated = preset.unrated if preset else True
    try:
        profile = Profile.load(args.profile or (preset.profile if preset else "kaggle2017"))
    except (OSError, ValueError, KeyError) as error:
        parser.error(f"cannot read the profile: {error}")

    logger.info("writing SYNTHETIC ratings to %s: %s users, %s anime, %s rows, profile %s, seed %d",
                args.output, f"{sizes['users']:,}", f"{sizes['anime']:,}", f"{sizes['rows']:,}",
                profile.name, args.seed)
    started = time.perf_counter()
    try:
        summary = generate(args.output, sizes["users"], sizes["anime"], sizes["rows"], profile, unrated,
                           args.seed, ScoreModel(rank=args.rank))
    except ValueError as error:
        parser.error(str(error))
    write_side_file(args.output, args.preset, sizes, profile.name, unrated, args.rank, args.seed, summary)
    scored = summary.score_counts[1:]
    shares = scored / max(1, scored.sum())
    histogram = " ".join(f"{score}:{share:.3f}" for score, share in zip(range(1, 11), shares))
    logger.info("done in %.1f s: %s rows, %s unrated (%.1f%%), %s anime with at least one row",
                time.perf_counter() - started, f"{summary.rows:,}", f"{summary.unrated:,}",
                100 * summary.unrated / summary.rows, f"{int(summary.anime_seen.sum()):,}")
    logger.info("score shares %s", histogram)
    return 0


if __name__ == "__main__":
    sys.exit(main())
