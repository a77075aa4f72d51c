"""Ctrl-C (SIGINT) during training: stop after the epoch in progress, keep a usable model.

The library tests send SIGINT to this process from the epoch callback, so
the signal arrives at a known epoch. The command-line tests start
`pyanimf fit` in a subprocess and send SIGINT after its first epoch line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pyanimf
from pyanimf import Model
from pyanimf.training import TrainingInterrupted

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name != "posix", reason="needs POSIX signals")


def interrupt_at(epoch):
    def callback(record):
        if record.epoch == epoch:
            os.kill(os.getpid(), signal.SIGINT)

    return callback


def test_fit_interrupt_keeps_completed_epoch(small_ratings):
    model = Model(dim=8, epochs=50, seed=4, early_stopping=False)
    with pytest.raises(TrainingInterrupted) as raised:
        model.fit(small_ratings, callback=interrupt_at(2))
    interrupted = raised.value
    assert isinstance(interrupted, KeyboardInterrupt)
    assert interrupted.completed_epochs == 2
    assert interrupted.total_epochs == 50
    assert interrupted.kept_epoch == 2
    assert "interrupted after epoch 2 of 50" in str(interrupted)
    assert len(model.history_) == 2
    assert model.best_epoch_ == 2


def test_fit_interrupt_matches_shorter_run(small_ratings):
    interrupted = Model(dim=8, epochs=50, seed=4, early_stopping=False)
    with pytest.raises(TrainingInterrupted):
        interrupted.fit(small_ratings, callback=interrupt_at(3))
    complete = Model(dim=8, epochs=3, seed=4, early_stopping=False).fit(small_ratings)
    users = complete.user_ids[:50]
    anime = complete.anime_ids[:50]
    np.testing.assert_array_equal(interrupted.predict(users, anime), complete.predict(users, anime))
    assert interrupted.recommend(users[0]) == complete.recommend(users[0])


def test_fit_interrupt_early_stopping_keeps_best(small_ratings):
    model = Model(dim=8, epochs=50, seed=4, learning_rate=0.05, patience=50)
    with pytest.raises(TrainingInterrupted) as raised:
        model.fit(small_ratings, validation=0.1, callback=interrupt_at(12))
    rmses = [record.validation_rmse for record in model.history_]
    best = int(np.argmin(rmses)) + 1
    assert raised.value.kept_epoch == best
    # With this seed validation RMSE peaks before epoch 12, so the restore is exercised.
    assert best < 12
    assert model.best_epoch_ == best
    assert raised.value.completed_epochs == 12


def test_fit_interrupt_restores_handler(small_ratings, tmp_path):
    model = Model(dim=8, epochs=20, early_stopping=False)
    with pytest.raises(TrainingInterrupted):
        model.fit(small_ratings, callback=interrupt_at(1))
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    path = tmp_path / "interrupted.npz"
    model.save(path)
    assert Model.load(path).predict(model.user_ids[:3], model.anime_ids[:3]).shape == (3,)


def test_fit_keeps_application_handler(small_ratings):
    calls = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: calls.append(signum))
    try:
        model = Model(dim=8, epochs=3, early_stopping=False)
        model.fit(small_ratings, callback=interrupt_at(1))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert calls == [signal.SIGINT]
    assert len(model.history_) == 3


def test_fit_in_worker_thread_installs_no_handler(small_ratings):
    handlers = []

    def fit():
        model = Model(dim=8, epochs=2)
        model.fit(small_ratings, callback=lambda record: handlers.append(signal.getsignal(signal.SIGINT)))
        return model

    with ThreadPoolExecutor(max_workers=1) as pool:
        model = pool.submit(fit).result()
    assert len(model.history_) == 2
    assert handlers == [signal.default_int_handler] * 2
    assert threading.current_thread() is threading.main_thread()


# ---- The pyanimf fit command ------------------------------------------------------------


def start_fit(tmp_path, *options):
    # The subprocess runs in tmp_path, so it must find the same pyanimf as this process.
    package_root = str(Path(pyanimf.__file__).resolve().parents[1])
    python_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2", PYTHONPATH=python_path)
    return subprocess.Popen(
        [sys.executable, "-m", "pyanimf", "fit", "--dim", "32", "--epochs", "100000", "--no-early-stopping",
         *options],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def interrupt_after_first_epoch(process):
    """Send SIGINT once the first epoch line is printed; return (exit code, stdout, stderr)."""
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("epoch"):
            process.send_signal(signal.SIGINT)
            break
    try:
        stdout, stderr = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, "".join(lines) + stdout, stderr


def test_cli_interrupt_with_output_saves(tmp_path):
    code, stdout, stderr = interrupt_after_first_epoch(start_fit(tmp_path, "-o", "kept.npz"))
    assert code == 130, stderr
    assert "pyanimf: interrupted after epoch " in stderr
    assert "; saved the model of epoch " in stderr
    assert "kept.npz" in stderr
    assert "Traceback" not in stderr
    completed = int(stderr.split("interrupted after epoch ")[1].split()[0])
    assert 1 <= completed < 100000
    model = Model.load(tmp_path / "kept.npz")
    assert model.user_factors.shape[1] == 32
    assert sorted(path.name for path in tmp_path.iterdir()) == ["kept.npz"]


def test_cli_interrupt_without_output_saves_nothing(tmp_path):
    code, stdout, stderr = interrupt_after_first_epoch(start_fit(tmp_path))
    assert code == 130, stderr
    assert "no model saved, because -o was not given" in stderr
    assert "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []
