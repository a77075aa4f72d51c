"""Compare pyanimf with other matrix-factorization tools on one seeded split.

Every contender trains on the same training rows and is scored on the same
held-out rows, in its own subprocess so that its peak RSS is its own. The
script prints the run's setting (data, machine, commit, command) and one
markdown table. See bench/README.md for installing the other tools.

Held-out rows whose user or anime has no scored training row are left out
for every contender, because the tools predict such rows differently.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import logging
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
from contenders import (  # noqa: E402
    LIBMF_TRAIN, LIBMF_VALIDATION, RUNNERS, TIME_COMMAND, TRAIN_ALL, TRAIN_SCORED, VALIDATION,
)
from ratings_csv import read_ratings, write_ratings  # noqa: E402

logger = logging.getLogger("pyanimf.bench.compare")

# Contenders that always run on one thread, whatever --threads is.
SINGLE_THREADED = {"surprise", "mean", "biases"}
# Contenders that need a package in this Python environment.
PACKAGES = {"pyanimf": "pyanimf", "surprise": "surprise", "torch": "torch"}
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


@dataclass
class Split:
    """Row counts of the split that compare.py wrote to its work folder."""

    train_rows: int
    train_ratings: int
    validation_ratings: int
    validation_dropped: int
    min_score: float
    max_score: float


@dataclass
class Outcome:
    """One contender's result, or the reason it has none."""

    name: str
    result: dict | None
    peak_rss_mib: float | None
    wall_seconds: float
    error: str | None = None


# ---- data ---------------------------------------------------------------------


def default_data_path() -> Path:
    """Return the ratings file bundled with pyanimf, the real MyAnimeList sample."""
    from pyanimf.datasets import bundled_ratings_path

    return bundled_ratings_path()


def describe_data(path: Path, label: str | None) -> str:
    """Return a one-line description of the data, marking synthetic files as such.

    synth.py writes `<file>.synthetic.json` next to each file it makes, and
    its presence puts SYNTHETIC in the description.
    """
    if label:
        return label
    sidecar = path.with_name(path.name + ".synthetic.json")
    if sidecar.is_file():
        info = json.loads(sidecar.read_text())
        return (f"SYNTHETIC data made by bench/synth.py ({info.get('command', 'command not recorded')}), "
                f"{path}")
    return f"{path} (origin not recorded: pass --data-label, and label synthetic data as synthetic)"


def write_split(path: Path, workdir: Path, validation: float, seed: int, unrated: float,
                libmf: bool) -> Split:
    """Split the rows of `path` and write the files that the contenders read.

    A seeded `validation` share of the scored rows is held out. Unrated rows
    stay in train.csv, which only pyanimf reads. LIBMF's files use 0-based
    user and anime indices, as it expects.
    """
    users, anime, scores = read_ratings(path)
    scored = scores != unrated
    scored_rows = np.flatnonzero(scored)
    rng = np.random.default_rng(seed)
    held_out = np.zeros(len(scores), bool)
    held_out[rng.choice(scored_rows, size=round(validation * len(scored_rows)), replace=False)] = True
    train = ~held_out
    train_scored = train & scored

    known_users = np.unique(users[train_scored])
    known_anime = np.unique(anime[train_scored])
    known = np.isin(users, known_users) & np.isin(anime, known_anime)
    validation_rows = held_out & known

    write_ratings(workdir / TRAIN_ALL, users[train], anime[train], scores[train])
    write_ratings(workdir / TRAIN_SCORED, users[train_scored], anime[train_scored], scores[train_scored])
    write_ratings(workdir / VALIDATION, users[validation_rows], anime[validation_rows], scores[validation_rows])
    if libmf:
        for name, rows in ((LIBMF_TRAIN, train_scored), (LIBMF_VALIDATION, validation_rows)):
            write_ratings(workdir / name, np.searchsorted(known_users, users[rows]),
                          np.searchsorted(known_anime, anime[rows]), scores[rows], header=False, separator=" ")
    return Split(
        train_rows=int(train.sum()),
        train_ratings=int(train_scored.sum()),
        validation_ratings=int(validation_rows.sum()),
        validation_dropped=int((held_out & ~known).sum()),
        min_score=float(scores[train_scored].min()),
        max_score=float(scores[train_scored].max()),
    )


# ---- running the contenders ------------------------------------------------------


def run_contender(name: str, config_path: Path, threads: int, timeout: float) -> Outcome:
    """Run one contender in a subprocess and collect its result, peak RSS included."""
    workdir = config_path.parent
    environment = dict(os.environ, **{variable: str(threads) for variable in THREAD_VARIABLES})
    stdout_path, stderr_path = workdir / f"{name}.out", workdir / f"{name}.err"
    started = time.perf_counter()
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        try:
            completed = subprocess.run([sys.executable, str(BENCH_DIR / "contenders.py"), name, str(config_path)],
                                       stdout=stdout, stderr=stderr, env=environment, timeout=timeout)
        except subprocess.TimeoutExpired:
            return Outcome(name, None, None, time.perf_counter() - started, f"timed out after {timeout:.0f} s")
    wall = time.perf_counter() - started

    if completed.returncode != 0:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-15:]
        return Outcome(name, None, None, wall,
                       f"failed with exit status {completed.returncode}:\n" + "\n".join(tail))
    result = json.loads(stdout_path.read_text().strip().splitlines()[-1])
    return Outcome(name, result, result["peak_rss_mib"], wall)


def run_repeated(name: str, config_path: Path, args: argparse.Namespace) -> Outcome:
    """Run a contender `args.repeat` times and keep the run with the shortest fit time.

    On a shared machine other work only ever makes a run slower, so the
    fastest run is the least disturbed one. A failed run ends the repeats.
    """
    threads = 1 if name in SINGLE_THREADED else args.threads
    runs = []
    for attempt in range(1, args.repeat + 1):
        logger.info("running %s with %d thread(s), run %d of %d", name, threads, attempt, args.repeat)
        outcome = run_contender(name, config_path, threads, args.timeout)
        if outcome.error:
            logger.error("%s %s", name, outcome.error)
            return outcome
        logger.info("%s: fit %.2f s, RMSE %.4f, %.1f s in all", name, outcome.result["fit_seconds"],
                    outcome.result["rmse"], outcome.wall_seconds)
        runs.append(outcome)
    best = min(runs, key=lambda run: run.result["fit_seconds"])
    if len(runs) > 1:
        if best.result["epochs"]:
            fit_times = ", ".join(f"{run.result['fit_seconds']:.2f}" for run in runs)
            best.result["notes"].append(f"fit seconds of the {len(runs)} runs: {fit_times}")
        best.peak_rss_mib = max(run.peak_rss_mib for run in runs)
    return best


# ---- report -------------------------------------------------------------------------


def machine_description() -> str:
    """Return the CPU model, usable cores and memory of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB memory"
    except (OSError, ValueError, IndexError):
        pass
    return f"{model}, {cores} usable cores{memory}, {platform.system()} {platform.release()}"


def commit_description() -> str:
    """Return the repository commit of this script, with -dirty when tracked files have changed."""
    try:
        return subprocess.run(["git", "-C", str(BENCH_DIR), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def format_table(outcomes: list[Outcome]) -> str:
    """Format one markdown table with a row per contender. A failed contender gets the reason in its RMSE cell."""
    header = ("| contender | threads | load s | fit s | M updates/s | held-out RMSE | peak RSS MiB |\n"
              "|---|--:|--:|--:|--:|--:|--:|")
    lines = [header]
    for outcome in outcomes:
        result = outcome.result
        rss = f"{outcome.peak_rss_mib:,.0f}" if outcome.peak_rss_mib is not None else "-"
        if result is None:
            reason = outcome.error.splitlines()[0]
            lines.append(f"| {outcome.name} | - | - | - | - | {reason} | {rss} |")
            continue
        if result["epochs"]:
            rate = f"{result['train_ratings'] * result['epochs'] / result['fit_seconds'] / 1e6:.1f}"
        else:
            rate = "-"
        lines.append(f"| {result['label']} | {result['threads']} | {result['load_seconds']:.2f} | "
                     f"{result['fit_seconds']:.2f} | {rate} | {result['rmse']:.4f} | {rss} |")
    return "\n".join(lines)


# ---- command line ---------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Train pyanimf and other matrix-factorization tools on the same seeded split of one "
                    "ratings file and print one markdown table: load and fit seconds, million rating "
                    "updates per second (training ratings x epochs / fit seconds), held-out RMSE and "
                    "peak RSS of each.",
        allow_abbrev=False,
    )
    parser.add_argument("--data", type=Path, help="ratings CSV, user_id,anime_id,rating with integer ids "
                                                  "(default: the real sample bundled with pyanimf)")
    parser.add_argument("--data-label", help="description of the data for the report "
                                             "(default: taken from synth.py's side file, else the path)")
    parser.add_argument("--contenders", default=",".join(RUNNERS),
                        help="comma-separated subset of %(default)s; by default, tools that are not "
                             "installed, and LIBMF without --libmf, are left out")
    parser.add_argument("--validation", type=float, default=0.1,
                        help="share of the scored rows held out (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split and of the models (default: 0)")
    parser.add_argument("--unrated", type=float, default=-1.0,
                        help="score that marks an unrated row (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of pyanimf, LIBMF and PyTorch (default: %(default)s); Surprise and "
                             "the baselines use one")
    parser.add_argument("--epochs", type=int, default=20,
                        help="epochs of pyanimf, LIBMF and Surprise (default: %(default)s)")
    parser.add_argument("--dim", type=int, default=128, help="factors per user and anime (default: %(default)s)")
    parser.add_argument("--libmf", type=Path, help="folder containing LIBMF's mf-train and mf-predict")
    parser.add_argument("--libmf-l2", type=float, default=0.1,
                        help="LIBMF's -l2 regularization (default: its own default, %(default)s)")
    parser.add_argument("--libmf-learning-rate", type=float, default=0.1,
                        help="LIBMF's -r learning rate (default: its own default, %(default)s)")
    parser.add_argument("--torch-epochs", type=int, default=5, help="epochs of the PyTorch model (default: 5)")
    parser.add_argument("--torch-batch", type=int, default=1024, help="PyTorch batch size (default: 1024)")
    parser.add_argument("--torch-learning-rate", type=float, default=1e-3,
                        help="PyTorch Adam learning rate (default: %(default)s)")
    parser.add_argument("--bias-regularization", type=float, default=10.0,
                        help="lambda of the biases baseline (default: %(default)s)")
    parser.add_argument("--bias-sweeps", type=int, default=10,
                        help="alternating sweeps of the biases baseline (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per contender; the table shows the run with the shortest fit time "
                             "(default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=3600.0,
                        help="seconds after which a contender is stopped (default: %(default)s)")
    parser.add_argument("--workdir", type=Path,
                        help="folder for the split files and logs (default: a new temporary folder, "
                             "removed at the end unless --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)

    for name in ("threads", "epochs", "dim", "torch_epochs", "torch_batch", "bias_sweeps", "repeat"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {getattr(args, name)}")
    if not 0 < args.validation < 1:
        parser.error(f"--validation must be between 0 and 1, got {args.validation}")
    args.contenders = select_contenders(parser, args)
    return args


def select_contenders(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """Check the requested contenders; drop unavailable ones only when none was named explicitly."""
    requested = [name.strip() for name in args.contenders.split(",") if name.strip()]
    unknown = [name for name in requested if name not in RUNNERS]
    if unknown:
        parser.error(f"unknown contenders {', '.join(unknown)}; choose from {', '.join(RUNNERS)}")
    explicit = args.contenders != ",".join(RUNNERS)

    chosen = []
    for name in requested:
        problem = None
        if name in PACKAGES and importlib.util.find_spec(PACKAGES[name]) is None:
            problem = f"{PACKAGES[name]} is not installed in {sys.executable}"
        elif name == "libmf" and args.libmf is None:
            problem = "--libmf is not given"
        elif name == "libmf" and not (args.libmf / "mf-train").is_file():
            problem = f"{args.libmf / 'mf-train'} not found; build LIBMF there first"
        elif name == "libmf" and shutil.which("stdbuf") is None:
            problem = "stdbuf (GNU coreutils) is not installed"
        elif name == "libmf" and not Path(TIME_COMMAND).is_file():
            problem = f"{TIME_COMMAND} not found; install GNU time (Debian package `time`)"
        if problem and explicit:
            parser.error(f"cannot run {name}: {problem}")
        if problem:
            logger.warning("leaving out %s: %s", name, problem)
            continue
        chosen.append(name)
    return chosen


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    args = parse_arguments(argv)
    data_path = args.data
    if data_path is None:
        try:
            data_path = default_data_path()
        except (ImportError, FileNotFoundError) as error:
            logger.error("cannot find pyanimf's bundled ratings (%s); pass --data PATH", error)
            return 2
        args.data_label = args.data_label or f"real MyAnimeList ratings bundled with pyanimf, {data_path}"

    args.load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pyanimf-compare-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        logger.info("writing the split of %s to %s", data_path, workdir)
        split = write_split(data_path, workdir, args.validation, args.seed, args.unrated, "libmf" in args.contenders)
        config = {
            "dim": args.dim, "epochs": args.epochs, "threads": args.threads, "seed": args.seed,
            "train_ratings": split.train_ratings, "min_score": split.min_score, "max_score": split.max_score,
            "libmf_dir": str(args.libmf) if args.libmf else None, "libmf_l2": args.libmf_l2,
            "libmf_learning_rate": args.libmf_learning_rate, "torch_epochs": args.torch_epochs,
            "torch_batch": args.torch_batch, "torch_learning_rate": args.torch_learning_rate,
            "bias_regularization": args.bias_regularization, "bias_sweeps": args.bias_sweeps,
        }
        config_path = workdir / "config.json"
        config_path.write_text(json.dumps(config, indent=2))

        outcomes = [run_repeated(name, config_path, args) for name in args.contenders]
    finally:
        if args.workdir is None and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    print(report(args, data_path, split, outcomes))
    return 0 if all(outcome.error is None for outcome in outcomes) else 1


def report(args: argparse.Namespace, data_path: Path, split: Split, outcomes: list[Outcome]) -> str:
    """Format the run's setting as a short list, then the table, then the contenders' notes."""
    command = " ".join(shlex.quote(part) for part in [Path(sys.executable).name, *sys.argv])
    torch_epochs = f" (PyTorch {args.torch_epochs})" if "torch" in args.contenders else ""
    lines = [
        f"- data: {describe_data(data_path, args.data_label)}",
        f"- split: seed {args.seed}, {split.train_rows:,} training rows ({split.train_ratings:,} scored), "
        f"{split.validation_ratings:,} held-out scores ({split.validation_dropped:,} more left out because "
        "their user or anime has no training score)",
        f"- settings: dim {args.dim}, {args.epochs} epochs{torch_epochs}, "
        f"{args.threads} threads where the tool has threads",
        f"- machine: {machine_description()}; load average {args.load_average} at the start",
        f"- commit: {commit_description()}; date: {datetime.date.today().isoformat()}",
        f"- command: `{command}`",
        "",
        format_table(outcomes),
    ]
    notes = [f"- {outcome.result['label']}: {'; '.join(outcome.result['notes'])}"
             for outcome in outcomes if outcome.result and outcome.result["notes"]]
    if notes:
        lines += [""] + notes
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
