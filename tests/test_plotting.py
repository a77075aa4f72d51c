"""Learning-curve plots: the real matplotlib path, its absence, and fit --plot."""

import sys
from pathlib import Path

import pytest

from pyanimf.cli.main import main
from pyanimf.plotting import INSTALL_HINT, MissingDependencyError, plot_history
from pyanimf.training import EpochRecord

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def records(validation=True):
    return [
        EpochRecord(epoch=e, train_rmse=1.5 - 0.1 * e, validation_rmse=(1.4 - 0.05 * e) if validation else None,
                    seconds=0.1, idle_fraction=0.0)
        for e in range(1, 6)
    ]


@pytest.fixture
def without_matplotlib(monkeypatch):
    """Make every matplotlib import fail, as when it is not installed."""
    for name in [name for name in sys.modules if name == "matplotlib" or name.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_plot_history_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.png"
    plot_history(records(), path, best_epoch=3)
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_history_without_validation(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curve.svg"
    plot_history(records(validation=False), str(path), title="no validation")
    assert "<svg" in path.read_text()


def test_plot_history_empty_raises(tmp_path):
    with pytest.raises(ValueError, match="history: expected at least one EpochRecord"):
        plot_history([], tmp_path / "curve.png")


def test_missing_matplotlib_message(tmp_path, without_matplotlib):
    with pytest.raises(ImportError, match="plotting needs matplotlib: pip install 'pyanimf\\[plot\\]'") as caught:
        plot_history(records(), tmp_path / "curve.png")
    assert isinstance(caught.value, MissingDependencyError)
    assert not (tmp_path / "curve.png").exists()


def test_cli_fit_plot_writes_curve(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    curve = tmp_path / "curve.png"
    code = main(["fit", "--dim", "8", "--epochs", "3", "--quiet", "-o", str(tmp_path / "m.npz"),
                 "--plot", str(curve)])
    assert code == 0
    assert f"learning curve saved to {curve}" in capsys.readouterr().out
    assert curve.read_bytes().startswith(PNG_SIGNATURE)


def test_cli_fit_plot_without_matplotlib_fails_before_training(tmp_path, capsys, without_matplotlib):
    code = main(["fit", "--dim", "8", "--epochs", "1", "--quiet", "-o", str(tmp_path / "m.npz"),
                 "--plot", str(tmp_path / "curve.png")])
    assert code == 1
    assert INSTALL_HINT in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def names_matplotlib(requirements):
    return any(requirement.startswith("matplotlib") for requirement in requirements)


def test_matplotlib_only_in_optional_extras():
    tomllib = pytest.importorskip("tomllib")  # in the standard library from Python 3.11
    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    assert not names_matplotlib(project["dependencies"])
    assert names_matplotlib(project["optional-dependencies"]["plot"])
    # The test extra brings it too, so the plotting tests run in CI.
    assert names_matplotlib(project["optional-dependencies"]["test"])
