"""Measure pyanimf's speed and memory targets side by side with LIBMF, NumPy and pyarrow.

One run prints one markdown table with, for each target, pyanimf's figure,
the reference's figure measured in the same run and their ratio:

1. training throughput: seconds per epoch against LIBMF's per-iteration time
   (``mf-train -t N+1`` minus ``mf-train -t 1``, divided by N, so text
   parsing cancels out; N is --epochs but at least 20);
2. scaling: one epoch on 2 threads against 1 thread;
3. loading: ``load_ratings`` (its repeated-pair and isolated-score checks
   included) against ``pyarrow.csv.read_csv`` alone on the same file. An
   untimed load_ratings call comes first, because later targets use its
   result, and read_csv gets no such call;
4. end to end: ``pyanimf fit FILE --epochs E`` against ``mf-train -t E``,
   one run each;
5. memory: peak RSS of those two commands;
6. top-N for every user: ``Model.recommend_all`` against NumPy's float32
   matrix product of the same shapes.

Times are medians of ``--repeat`` runs. The large data files of this
project's benchmarks are synthetic (``synth.py``), and every figure
measured on them must be labelled synthetic.

Usage::

    python bench/targets.py --data /tmp/bench-data/kaggle2017-synthetic.csv \\
        --libmf /tmp/libmf --threads 2 --epochs 5
    python bench/targets.py --data /tmp/bench-data/kaggle2020-synthetic.csv --loading-only
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from pyanimf import Model, _core, load_ratings
from pyanimf.ids import IdIndex
from pyanimf.model import automatic_grid_size


# Fewest LIBMF iterations timed for target 1, whatever --epochs is.
LIBMF_MIN_ITERATIONS = 20


def median_seconds(function, repeat: int, pause: float = 0.0) -> float:
    """Median seconds of `repeat` calls of `function`, each after `pause` seconds of sleep."""
    times = []
    for _ in range(repeat):
        time.sleep(pause)
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run_command(command, env=None):
    """Run `command` under GNU time; return (wall seconds, peak RSS in MiB).

    GNU time reports the peak of the command alone. The rusage of a child
    of this process would not: a forked child starts with this process's
    peak, which here contains gigabytes of test data.
    """
    with tempfile.NamedTemporaryFile("r") as report:
        started = time.perf_counter()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", report.name, *map(str, command)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
                                cwd=tempfile.gettempdir())
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(map(str, command))} failed: {result.stderr[-2000:]}")
        peak_kib = int(report.read().split()[-1])
    return seconds, peak_kib / 1024


def libmf_text(ratings, path: Path) -> int:
    """Write the scored rows as LIBMF's `user item score` text with 0-based rows."""
    rated = ratings.rated
    _, users = IdIndex.encode(ratings.user_ids[rated])
    _, anime = IdIndex.encode(ratings.anime_ids[rated])
    scores = ratings.scores[rated]
    with open(path, "w") as stream:
        for start in range(0, len(scores), 1_000_000):
            stop = start + 1_000_000
            block = np.column_stack([users[start:stop], anime[start:stop], scores[start:stop]])
            np.savetxt(stream, block, fmt="%d %d %g")
    return int(rated.sum())


def epoch_seconds(ratings, dim: int, threads: int, repeat: int) -> float:
    """Median seconds of one SGD epoch on all scored rows, on `threads` threads."""
    rated = ratings.rated
    users, user_rows = IdIndex.encode(ratings.user_ids[rated])
    anime, anime_rows = IdIndex.encode(ratings.anime_ids[rated])
    scores = ((ratings.scores[rated] - 7.5) / 1.5).astype(np.float32)
    # The grid size that Model.fit would choose for these ratings.
    grid_size = automatic_grid_size(len(anime), dim)
    grid = _core.BlockGrid(user_rows, anime_rows, scores, len(users), len(anime), grid_size, 0)
    arrays = _core.ModelArrays(len(users), len(anime), dim)
    rng = np.random.default_rng(0)
    arrays.user_factors[:] = rng.standard_normal((len(users), dim), dtype=np.float32) * 0.01
    arrays.item_factors[:] = rng.standard_normal((len(anime), dim), dtype=np.float32) * 0.01
    settings = _core.SgdSettings()
    settings.learning_rate = 0.005
    times = []
    for epoch in range(repeat):
        result = _core.run_epoch(grid, arrays, settings, 1.0, 0.0, threads=threads, seed=0, epoch=epoch)
        times.append(result["wall_seconds"])
    return statistics.median(times)


def measure(args) -> list:
    rows = []
    # The end-to-end commands run in a temporary folder, so a relative path would not be found there.
    data = args.data.resolve()
    ratings = load_ratings(data)
    n_scores = ratings.n_rated

    # 3. Loading.
    ours = median_seconds(lambda: load_ratings(data), args.repeat, args.pause)
    try:
        import pyarrow.csv as pacsv

        theirs = median_seconds(lambda: pacsv.read_csv(data), args.repeat, args.pause)
        rows.append(("3 loading", f"load_ratings {ours:.2f} s", f"pyarrow.csv.read_csv {theirs:.2f} s",
                     theirs / ours, ">= 2"))
    except ImportError:
        rows.append(("3 loading", f"load_ratings {ours:.2f} s", "pyarrow not installed", float("nan"), ">= 2"))
    if args.loading_only:
        return rows
    work = Path(tempfile.mkdtemp(prefix="pyanimf-targets-"))

    # 2. Scaling, and 1. throughput of the training loop.
    single = epoch_seconds(ratings, args.dim, 1, args.repeat)
    many = epoch_seconds(ratings, args.dim, args.threads, args.repeat)
    rows.append(("2 scaling", f"{args.threads} threads {many:.3f} s/epoch", f"1 thread {single:.3f} s/epoch",
                 single / many, ">= 1.8"))
    updates = n_scores / many / 1e6

    libmf_file = None
    if args.libmf is not None:
        libmf_file = work / "train.txt"
        libmf_text(ratings, libmf_file)
        train = str(args.libmf / "mf-train")
        base = [train, "-k", str(args.dim), "-s", str(args.threads)]
        # The difference of two runs cancels parsing and set-up. Runs on a
        # shared machine vary by a tenth of a second or more, so the
        # difference spans many iterations and each side is a median.
        iterations = max(args.epochs, LIBMF_MIN_ITERATIONS)

        def libmf_seconds(count: int) -> float:
            command = base + ["-t", str(count), str(libmf_file), str(work / "libmf.model")]
            return statistics.median(run_command(command)[0] for _ in range(args.repeat))

        per_iteration = (libmf_seconds(iterations + 1) - libmf_seconds(1)) / iterations
        rows.append(("1 training loop", f"{many:.3f} s/epoch ({updates:.0f} M updates/s)",
                     f"LIBMF {per_iteration:.3f} s/iteration ({n_scores / per_iteration / 1e6:.0f} M updates/s)",
                     per_iteration / many, ">= 3"))

    # 6. Top-N for every user against NumPy's matrix product of the same
    # shapes, in the same batches of users.
    model = Model(args.dim, epochs=1, threads=args.threads).fit(ratings)
    batch = 2048
    factors_users = np.ascontiguousarray(model.user_factors)
    factors_anime_t = np.ascontiguousarray(model.anime_factors).T
    buffer = np.empty((batch, factors_anime_t.shape[1]), dtype=np.float32)

    def products():
        for start in range(0, len(factors_users), batch):
            rows_here = factors_users[start:start + batch]
            np.matmul(rows_here, factors_anime_t, out=buffer[: len(rows_here)])

    product = median_seconds(products, args.repeat)
    top_n = median_seconds(lambda: model.recommend_all(10, batch_size=batch), args.repeat)
    rows.append(("6 top-N for all users", f"recommend_all {top_n:.2f} s",
                 f"NumPy matmul, same batches {product:.2f} s", product / top_n, ">= 0.5"))

    # 4. and 5. End to end and memory.
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    fit = [sys.executable, "-m", "pyanimf", "fit", str(data), "--dim", str(args.dim), "--epochs",
           str(args.epochs), "--validation", "0", "-q", "-o", str(work / "model.npz")]
    fit_seconds, fit_peak = run_command(fit, env)
    if libmf_file is not None:
        libmf_seconds, libmf_peak = run_command(
            [str(args.libmf / "mf-train"), "-k", str(args.dim), "-s", str(args.threads), "-t", str(args.epochs),
             str(libmf_file), str(work / "libmf.model")])
        rows.append(("4 end to end", f"pyanimf fit {fit_seconds:.1f} s", f"mf-train {libmf_seconds:.1f} s",
                     libmf_seconds / fit_seconds, ">= 4"))
        rows.append(("5 peak memory", f"pyanimf fit {fit_peak:.0f} MiB", f"mf-train {libmf_peak:.0f} MiB",
                     libmf_peak / fit_peak, ">= 1"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], allow_abbrev=False)
    parser.add_argument("--data", type=Path, required=True, help="ratings CSV (user_id,anime_id,rating)")
    parser.add_argument("--libmf", type=Path, help="folder with LIBMF's mf-train; without it targets 1, 4, 5 are skipped")
    parser.add_argument("--threads", type=int, default=2, help="threads for every contender (default: 2)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs for end to end runs (default: 5)")
    parser.add_argument("--dim", type=int, default=128, help="factors per row (default: 128)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the median is shown (default: 3)")
    parser.add_argument("--loading-only", action="store_true", help="measure target 3 (loading) and nothing else")
    parser.add_argument("--pause", type=float, default=0.0,
                        help="seconds to sleep before each timed load, so that a virtual machine can hand "
                             "freed memory back to its host and every load faults in fresh memory (default: 0)")
    args = parser.parse_args()

    rows = measure(args)
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; data: {args.data}; "
          f"threads {args.threads}, dim {args.dim}, epochs {args.epochs}; kernel {_core.available_kernels()[0]}")
    print()
    print("| target | pyanimf | reference | ratio | goal |")
    print("|---|---|---|---|---|")
    for target, ours, theirs, ratio, goal in rows:
        print(f"| {target} | {ours} | {theirs} | {ratio:.2f} | {goal} |")


if __name__ == "__main__":
    main()
