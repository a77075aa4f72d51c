"""Train and evaluate one contender of compare.py; run as a subprocess of it.

    python bench/contenders.py NAME CONFIG_JSON

CONFIG_JSON is the file that compare.py writes into its work folder, next
to the split files. The last line on stdout is a JSON object with the
contender's label, thread count, load and fit seconds, training ratings,
epochs and held-out RMSE. Each contender imports only its own library, so
that the peak RSS that compare.py measures is that of the contender alone.
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ratings_csv import read_ratings  # noqa: E402

TRAIN_ALL = "train.csv"
TRAIN_SCORED = "train_scored.csv"
VALIDATION = "validation.csv"
LIBMF_TRAIN = "libmf_train.txt"
LIBMF_VALIDATION = "libmf_validation.txt"
# GNU time, from Debian's `time` package; its %M is the child's peak RSS in KiB.
TIME_COMMAND = "/usr/bin/time"
# Rows per prediction call of the torch model, which bounds its temporary memory.
PREDICT_BATCH = 1_000_000


def run_pyanimf(config: dict, workdir: Path) -> dict:
    """Train pyanimf's Model with its default settings, apart from dim, epochs, threads and seed."""
    import pyanimf
    from pyanimf import Model, load_ratings

    started = time.perf_counter()
    train = load_ratings(workdir / TRAIN_ALL)
    loaded = time.perf_counter()
    model = Model(config["dim"], epochs=config["epochs"], threads=config["threads"], seed=config["seed"])
    model.fit(train, progress=False)
    fitted = time.perf_counter()

    evaluation = model.evaluate(load_ratings(workdir / VALIDATION))
    if evaluation.unknown:
        raise RuntimeError(f"{evaluation.unknown} validation rows have a user or anime unknown to pyanimf; "
                           "compare.py should have left them out of validation.csv")
    epoch_seconds = sum(record.seconds for record in model.history_)
    return {
        "label": f"pyanimf {pyanimf.__version__} ({model.fit_report_.kernel})",
        "threads": model.fit_report_.threads,
        "load_seconds": loaded - started,
        "fit_seconds": fitted - loaded,
        "train_ratings": model.fit_report_.train_ratings,
        "epochs": config["epochs"],
        "rmse": evaluation.rmse,
        "notes": [f"the epochs alone took {epoch_seconds:.2f} s of the fit time; "
                  "load reads train.csv with its -1 rows"],
    }


def run_libmf(config: dict, workdir: Path) -> dict:
    """Train and evaluate with LIBMF's mf-train and mf-predict, timed from the lines mf-train prints.

    mf-train prints a header line once the data is read, scaled and the model
    initialised, then one line per iteration. Load is the time to the header,
    fit the time from the header to the last iteration line, which leaves out
    saving the model. stdbuf makes the header line arrive when it is printed
    rather than with the first iteration line. GNU time measures the peak RSS
    of mf-train alone (see own_peak_rss_mib for why wait4 in this process
    would not).
    """
    libmf_dir = Path(config["libmf_dir"])
    model_path = workdir / "libmf_model.txt"
    rss_path = workdir / "libmf_peak_rss_kib.txt"
    command = [
        TIME_COMMAND, "-f", "%M", "-o", str(rss_path),
        "stdbuf", "-oL", str(libmf_dir / "mf-train"),
        "-k", str(config["dim"]), "-t", str(config["epochs"]), "-s", str(config["threads"]),
        "-l2", str(config["libmf_l2"]), "-r", str(config["libmf_learning_rate"]),
        str(workdir / LIBMF_TRAIN), str(model_path),
    ]
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    header_time, iteration_times, output = None, [], []
    for line in iter(process.stdout.readline, ""):
        now = time.perf_counter()
        output.append(line)
        fields = line.split()
        if fields and fields[0] == "iter":
            header_time = now
        elif fields and fields[0].isdigit():
            iteration_times.append(now)
    exit_code = process.wait()
    finished = time.perf_counter()
    if exit_code != 0 or header_time is None or len(iteration_times) != config["epochs"]:
        raise RuntimeError(f"mf-train failed (exit status {exit_code}); its output:\n{''.join(output[-20:])}")

    predict = subprocess.run(
        [str(libmf_dir / "mf-predict"), "-e", "0", str(workdir / LIBMF_VALIDATION), str(model_path),
         str(workdir / "libmf_predictions.txt")],
        capture_output=True, text=True, check=True,
    )
    match = re.search(r"RMSE = ([0-9.]+)", predict.stdout)
    if match is None:
        raise RuntimeError(f"mf-predict printed no RMSE line; its output:\n{predict.stdout}")
    return {
        "label": "LIBMF mf-train",
        "threads": config["threads"],
        "load_seconds": header_time - started,
        "fit_seconds": iteration_times[-1] - header_time,
        "train_ratings": config["train_ratings"],
        "epochs": config["epochs"],
        "rmse": float(match.group(1)),
        "peak_rss_mib": int(rss_path.read_text().split()[-1]) / 1024,
        "notes": [f"-l2 {config['libmf_l2']} -r {config['libmf_learning_rate']}, other settings "
                  "its defaults (no biases, no clipping); load is parsing plus setup up to its first "
                  f"output line; mf-train took {finished - started:.2f} s in all, saving the model "
                  "included; peak RSS is mf-train's own"],
    }


def run_surprise(config: dict, workdir: Path) -> dict:
    """Train Surprise's SVD (biased matrix factorization by SGD), on one thread as Surprise has no threads."""
    import surprise
    from surprise import SVD, Dataset, Reader, accuracy

    started = time.perf_counter()
    reader = Reader(line_format="user item rating", sep=",", skip_lines=1,
                    rating_scale=(config["min_score"], config["max_score"]))
    trainset = Dataset.load_from_file(str(workdir / TRAIN_SCORED), reader).build_full_trainset()
    loaded = time.perf_counter()
    algorithm = SVD(n_factors=config["dim"], n_epochs=config["epochs"], random_state=config["seed"])
    algorithm.fit(trainset)
    fitted = time.perf_counter()

    # Surprise keeps the raw ids of a file as strings.
    users, anime, scores = read_ratings(workdir / VALIDATION)
    testset = [(str(user), str(item), float(score)) for user, item, score in zip(users, anime, scores)]
    rmse = accuracy.rmse(algorithm.test(testset), verbose=False)
    return {
        "label": f"Surprise {surprise.__version__} SVD",
        "threads": 1,
        "load_seconds": loaded - started,
        "fit_seconds": fitted - loaded,
        "train_ratings": trainset.n_ratings,
        "epochs": config["epochs"],
        "rmse": rmse,
        "notes": ["SVD with its default learning rate 0.005 and regularization 0.02; "
                  "it has no threads"],
    }


def run_torch(config: dict, workdir: Path) -> dict:
    """Train a Keras-style PyTorch model: two embeddings, their dot product, Dense(1) and a sigmoid.

    It is trained with Adam and MSE on scores min-max scaled to [0, 1], like the
    usual Keras recommender tutorial. Embeddings start uniform in
    [-0.05, 0.05] and the dense layer Glorot-uniform with zero bias, as
    Keras initialises them, and eps is Keras's 1e-7.
    """
    import torch

    torch.set_num_threads(config["threads"])
    torch.manual_seed(config["seed"])
    started = time.perf_counter()
    users, anime, scores = read_ratings(workdir / TRAIN_SCORED)
    user_index, user_codes = np.unique(users, return_inverse=True)
    anime_index, anime_codes = np.unique(anime, return_inverse=True)
    low, high = float(scores.min()), float(scores.max())
    span = high - low if high > low else 1.0
    user_tensor = torch.from_numpy(user_codes.astype(np.int64))
    anime_tensor = torch.from_numpy(anime_codes.astype(np.int64))
    target = torch.from_numpy(((scores - low) / span).astype(np.float32))
    loaded = time.perf_counter()

    model = _keras_style_model(len(user_index), len(anime_index), config["dim"])
    optimizer = torch.optim.Adam(model.parameters(), lr=config["torch_learning_rate"], eps=1e-7)
    loss_function = torch.nn.MSELoss()
    batch = config["torch_batch"]
    generator = torch.Generator().manual_seed(config["seed"])
    for _ in range(config["torch_epochs"]):
        order = torch.randperm(len(target), generator=generator)
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            loss = loss_function(model(user_tensor[rows], anime_tensor[rows]), target[rows])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    fitted = time.perf_counter()

    valid_users, valid_anime, valid_scores = read_ratings(workdir / VALIDATION)
    valid_user_codes = torch.from_numpy(np.searchsorted(user_index, valid_users))
    valid_anime_codes = torch.from_numpy(np.searchsorted(anime_index, valid_anime))
    predicted = np.empty(len(valid_scores))
    with torch.no_grad():
        for start in range(0, len(predicted), PREDICT_BATCH):
            stop = start + PREDICT_BATCH
            predicted[start:stop] = model(valid_user_codes[start:stop], valid_anime_codes[start:stop]).numpy()
    errors = predicted * span + low - valid_scores
    return {
        "label": f"PyTorch {torch.__version__} Keras-style",
        "threads": torch.get_num_threads(),
        "load_seconds": loaded - started,
        "fit_seconds": fitted - loaded,
        "train_ratings": len(target),
        "epochs": config["torch_epochs"],
        "rmse": float(np.sqrt(np.mean(errors ** 2))),
        "notes": [f"Embedding x2 -> dot -> Linear(1, 1) -> sigmoid, Adam lr "
                  f"{config['torch_learning_rate']}, batch {batch}"],
    }


def _keras_style_model(users: int, anime: int, dim: int):
    """Build the torch module; torch is imported here so that other contenders never load it."""
    import torch

    class KerasStyleModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.user = torch.nn.Embedding(users, dim)
            self.anime = torch.nn.Embedding(anime, dim)
            self.dense = torch.nn.Linear(1, 1)
            torch.nn.init.uniform_(self.user.weight, -0.05, 0.05)
            torch.nn.init.uniform_(self.anime.weight, -0.05, 0.05)
            torch.nn.init.xavier_uniform_(self.dense.weight)
            torch.nn.init.zeros_(self.dense.bias)

        def forward(self, user_codes, anime_codes):
            dot = (self.user(user_codes) * self.anime(anime_codes)).sum(dim=1, keepdim=True)
            return torch.sigmoid(self.dense(dot)).squeeze(1)

    return KerasStyleModel()


def run_global_mean(config: dict, workdir: Path) -> dict:
    """Predict the mean training score for every row."""
    started = time.perf_counter()
    _, _, scores = read_ratings(workdir / TRAIN_SCORED)
    loaded = time.perf_counter()
    mean = float(scores.mean())
    fitted = time.perf_counter()
    _, _, valid_scores = read_ratings(workdir / VALIDATION)
    return {
        "label": "global mean",
        "threads": 1,
        "load_seconds": loaded - started,
        "fit_seconds": fitted - loaded,
        "train_ratings": len(scores),
        "epochs": None,
        "rmse": float(np.sqrt(np.mean((valid_scores - mean) ** 2))),
        "notes": [],
    }


def run_biases(config: dict, workdir: Path) -> dict:
    """Fit the global mean plus regularised user and anime biases by alternating closed-form sweeps.

    Each sweep sets b_anime = sum(r - mu - b_user) / (lambda + n_anime) and
    then b_user the same way, which minimises the squared error plus
    lambda * (sum b_user^2 + sum b_anime^2) one side at a time.
    """
    started = time.perf_counter()
    users, anime, scores = read_ratings(workdir / TRAIN_SCORED)
    user_index, user_codes = np.unique(users, return_inverse=True)
    anime_index, anime_codes = np.unique(anime, return_inverse=True)
    loaded = time.perf_counter()

    penalty = config["bias_regularization"]
    mean = scores.mean()
    user_count = np.bincount(user_codes, minlength=len(user_index))
    anime_count = np.bincount(anime_codes, minlength=len(anime_index))
    user_bias = np.zeros(len(user_index))
    anime_bias = np.zeros(len(anime_index))
    for _ in range(config["bias_sweeps"]):
        residual = scores - mean - user_bias[user_codes]
        anime_bias = np.bincount(anime_codes, weights=residual, minlength=len(anime_index)) / (penalty + anime_count)
        residual = scores - mean - anime_bias[anime_codes]
        user_bias = np.bincount(user_codes, weights=residual, minlength=len(user_index)) / (penalty + user_count)
    fitted = time.perf_counter()

    valid_users, valid_anime, valid_scores = read_ratings(workdir / VALIDATION)
    predicted = (mean + user_bias[np.searchsorted(user_index, valid_users)]
                 + anime_bias[np.searchsorted(anime_index, valid_anime)])
    predicted = np.clip(predicted, scores.min(), scores.max())
    return {
        "label": "user + anime biases",
        "threads": 1,
        "load_seconds": loaded - started,
        "fit_seconds": fitted - loaded,
        "train_ratings": len(scores),
        "epochs": None,
        "rmse": float(np.sqrt(np.mean((predicted - valid_scores) ** 2))),
        "notes": [f"lambda {penalty} for both sides, not tuned; {config['bias_sweeps']} "
                  "alternating sweeps; predictions clipped to the training score range"],
    }


def own_peak_rss_mib() -> float:
    """Return the peak RSS of this process since it started, from VmHWM in /proc/self/status (Linux).

    getrusage(RUSAGE_SELF) and wait4 would also count the parent's memory:
    Linux keeps the high-water mark of the address space that exec replaced,
    which for a child started by vfork, as Python's subprocess does, is
    the parent's.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM line in /proc/self/status; peak RSS is measured on Linux only")


RUNNERS = {
    "pyanimf": run_pyanimf,
    "libmf": run_libmf,
    "surprise": run_surprise,
    "torch": run_torch,
    "mean": run_global_mean,
    "biases": run_biases,
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in RUNNERS:
        print(f"usage: contenders.py {{{','.join(RUNNERS)}}} CONFIG_JSON", file=sys.stderr)
        return 2
    config_path = Path(argv[1])
    config = json.loads(config_path.read_text())
    result = RUNNERS[argv[0]](config, config_path.parent)
    result.setdefault("peak_rss_mib", own_peak_rss_mib())
    if result["rmse"] is None or not math.isfinite(result["rmse"]):
        raise RuntimeError(f"{argv[0]}: the held-out RMSE is {result['rmse']}")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
