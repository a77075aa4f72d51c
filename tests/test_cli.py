"""The pyanimf command end to end on the real bundled ratings."""

import subprocess
import sys
import tempfile

import pytest

from pyanimf.cli.main import main
from pyanimf.datasets import bundled_ratings_path


def run_cli(*args):
    # Run outside the repository, so `-m pyanimf` imports the installed
    # package rather than the source folder, which has no built extension.
    return subprocess.run(
        [sys.executable, "-m", "pyanimf", *map(str, args)],
        capture_output=True, text=True, timeout=300, cwd=tempfile.gettempdir(),
    )


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "model.npz"
    result = run_cli("fit", bundled_ratings_path(), "--dim", 32, "--epochs", 4, "-o", path)
    assert result.returncode == 0, result.stderr
    assert path.is_file()
    return path, result


def test_fit_reports_each_epoch_and_summary(model_file):
    path, result = model_file
    lines = result.stdout.splitlines()
    epoch_lines = [line for line in lines if line.startswith("epoch")]
    assert len(epoch_lines) == 4
    assert "train RMSE" in epoch_lines[0]
    assert "validation RMSE" in epoch_lines[0]
    assert any(line.startswith("validation RMSE:") for line in lines)
    assert f"model saved to {path}" in result.stdout
    # The bundled sample has unrated rows, so the implicit term is on by default.
    assert "implicit term: on (100,666 unrated rows in training" in result.stdout


def test_fit_implicit_off_option(tmp_path):
    path = tmp_path / "model.npz"
    result = run_cli("fit", bundled_ratings_path(), "--dim", 16, "--epochs", 2, "--implicit", "off", "-q", "-o", path)
    assert result.returncode == 0, result.stderr
    assert "implicit term: off" in result.stdout


def test_fit_implicit_lr_option_named_in_errors():
    result = run_cli("fit", "--epochs", 1, "--implicit-lr", -1)
    assert result.returncode != 0
    assert "--implicit-lr: expected a non-negative finite number, got -1.0" in result.stderr
    diverged = run_cli("fit", "--dim", 16, "--epochs", 2, "--implicit-lr", "1e38", "-q")
    assert diverged.returncode != 0
    assert "lower implicit_learning_rate (now 1e+38)" in diverged.stderr
    assert "--implicit-lr on the command line" in diverged.stderr


@pytest.mark.parametrize("command", ["cv", "tune"])
def test_experiments_name_implicit_lr_option(command):
    result = run_cli(command, "--implicit-lr", -1)
    assert result.returncode != 0
    assert "--implicit-lr: expected a non-negative finite number, got -1.0" in result.stderr
    # The check runs before the ratings are read.
    assert "ratings:" not in result.stdout


def test_fit_rejects_bad_implicit_value():
    result = run_cli("fit", "--implicit", "maybe")
    assert result.returncode == 2
    assert "--implicit: invalid choice: 'maybe'" in result.stderr


def test_recommend_prints_real_titles(model_file):
    path, _ = model_file
    result = run_cli("recommend", path, "--user", 1, "-n", 5)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 5
    anime_id, title, score = lines[0].split("\t")
    assert int(anime_id) > 0
    assert 1 <= float(score) <= 10
    assert title and title != "(unknown title)"


def test_similar_prints_neighbours(model_file):
    path, _ = model_file
    result = run_cli("similar", path, "--anime", 5114, "-n", 3)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "Fullmetal Alchemist: Brotherhood" in lines[0]
    assert len(lines) == 4
    assert all(not line.startswith("5114\t") for line in lines[1:])


def metric(output, name):
    line = next(line for line in output.splitlines() if line.startswith(name + ":"))
    return float(line.split(":")[1].replace(",", ""))


def test_evaluate_prints_metrics(model_file):
    path, _ = model_file
    result = run_cli("evaluate", path, bundled_ratings_path())
    assert result.returncode == 0, result.stderr
    assert 0.5 < metric(result.stdout, "RMSE") < 1.3
    assert 0.3 < metric(result.stdout, "MAE") < metric(result.stdout, "RMSE")
    assert metric(result.stdout, "scored rows") == 419943
    # Only ids seen in nothing but the 10% held out are unknown to the model.
    assert metric(result.stdout, "rows with unknown ids (left out)") < 500


def test_evaluate_counts_unknown_ids(model_file, tmp_path):
    path, _ = model_file
    ratings = tmp_path / "few.csv"
    ratings.write_text("user_id,anime_id,rating\n1,20,7\n1,999999,8\n987654,20,5\n")
    result = run_cli("evaluate", path, ratings)
    assert result.returncode == 0, result.stderr
    assert metric(result.stdout, "scored rows") == 3
    assert metric(result.stdout, "rows with unknown ids (left out)") == 2


def test_fit_without_file_uses_bundled_sample(tmp_path, capsys):
    code = main(["fit", "--dim", "8", "--epochs", "1", "--quiet", "-o", str(tmp_path / "m.npz")])
    assert code == 0
    assert "rating.csv.gz" in capsys.readouterr().out


def test_fit_validation_zero_trains_on_all(tmp_path, capsys):
    code = main(["fit", "--dim", "8", "--epochs", "1", "--quiet", "--validation", "0",
                 "-o", str(tmp_path / "m.npz")])
    assert code == 0
    assert "no validation split" in capsys.readouterr().out


def test_recommend_unknown_user_is_clean_error(model_file, capsys):
    path, _ = model_file
    assert main(["recommend", str(path), "--user", "123456789"]) == 1
    assert "unknown user id 123456789" in capsys.readouterr().err


def test_fit_missing_file_is_clean_error(tmp_path, capsys):
    assert main(["fit", str(tmp_path / "absent.csv"), "-o", str(tmp_path / "m.npz")]) == 1
    err = capsys.readouterr().err
    assert "absent.csv" in err
    assert not (tmp_path / "m.npz").exists()


def test_bad_validation_fraction_is_clean_error(tmp_path, capsys):
    assert main(["fit", "--validation", "1.5", "-o", str(tmp_path / "m.npz")]) == 1
    assert "--validation: expected a fraction in [0, 1), got 1.5" in capsys.readouterr().err


def test_recommend_all_writes_csv(model_file, tmp_path):
    path, _ = model_file
    out = tmp_path / "all.csv"
    result = run_cli("recommend", path, "--all", "-n", 3, "-o", out)
    assert result.returncode == 0, result.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == "user_id,rank,anime_id,score"
    users = {line.split(",")[0] for line in lines[1:]}
    assert len(lines) - 1 == 3 * len(users)
    assert len(users) > 4000


def test_recommend_all_without_output_is_clean_error(model_file, capsys):
    path, _ = model_file
    assert main(["recommend", str(path), "--all"]) == 1
    assert "--all: expected -o FILE" in capsys.readouterr().err


def test_evaluate_notes_rows_the_model_was_fitted_on(model_file, tmp_path):
    path, _ = model_file
    ratings = tmp_path / "mixed.csv"
    # User 1's first scored row is in the bundled data; (1, 999999) is not.
    first = next(line for line in bundled_lines() if line.startswith("1,") and not line.endswith(",-1"))
    ratings.write_text(f"user_id,anime_id,rating\n{first}\n1,999999,8\n")
    result = run_cli("evaluate", path, ratings)
    assert result.returncode == 0, result.stderr
    assert "note: 1 of the scored rows were in the data the model was fitted on" in result.stdout


def bundled_lines():
    import gzip

    with gzip.open(bundled_ratings_path(), "rt") as stream:
        return stream.read().splitlines()[1:200]


def test_output_closed_early_is_not_an_error(model_file):
    path, _ = model_file
    command = f"{sys.executable} -m pyanimf similar {path} --anime 5114 -n 500 | head -2"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True,
                            timeout=120, cwd=tempfile.gettempdir())
    assert result.returncode == 0, result.stderr
    assert "Broken pipe" not in result.stderr
    assert len(result.stdout.splitlines()) == 2


def test_directory_as_file_is_clean_error(model_file, tmp_path, capsys):
    path, _ = model_file
    assert main(["recommend", str(tmp_path), "--user", "1"]) == 1
    assert f"{tmp_path} is a directory, not a model file" in capsys.readouterr().err
    assert main(["recommend", str(path), "--all", "-o", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path}: is a directory" in err
    assert ".tmp" not in err


def test_output_in_missing_folder_names_folder(model_file, tmp_path, capsys):
    path, _ = model_file
    assert main(["recommend", str(path), "--all", "-o", str(tmp_path / "absent" / "top.csv")]) == 1
    assert f"{tmp_path / 'absent' / 'top.csv'}: folder {tmp_path / 'absent'} not found" in capsys.readouterr().err


def test_fit_zero_epochs_rejected(tmp_path, capsys):
    assert main(["fit", "--epochs", "0", "-q", "-o", str(tmp_path / "m.npz")]) == 1
    assert "--epochs: expected an integer from 1" in capsys.readouterr().err
    assert not (tmp_path / "m.npz").exists()


def test_similar_unknown_anime_prints_nothing(model_file, capsys):
    path, _ = model_file
    assert main(["similar", str(path), "--anime", "999999"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown anime id 999999" in captured.err


def test_version_option(capsys):
    import pyanimf

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"pyanimf {pyanimf.__version__}"


def test_batch_size_without_all_rejected(model_file, capsys):
    path, _ = model_file
    assert main(["recommend", str(path), "--user", "1", "--batch-size", "5"]) == 1
    assert "--batch-size: only used with --all" in capsys.readouterr().err


def test_fit_reads_ratings_from_pipe(tmp_path):
    # A pipe cannot seek, so the loader reads it into memory first.
    lines = "\n".join(["user_id,anime_id,rating", *bundled_lines()]) + "\n"
    output = tmp_path / "piped.npz"
    result = subprocess.run(
        [sys.executable, "-m", "pyanimf", "fit", "/dev/stdin", "--dim", "4", "--epochs", "1", "-q", "-o", str(output)],
        input=lines, capture_output=True, text=True, timeout=300, cwd=tempfile.gettempdir(),
    )
    assert result.returncode == 0, result.stderr
    assert "ratings: /dev/stdin: 199 rows" in result.stdout
    assert output.is_file()


@pytest.mark.parametrize("command", ["fit", "cv", "tune"])
@pytest.mark.parametrize("threads", ["0", "5000"])
def test_threads_option_out_of_range(command, threads, capsys):
    extra = ["--dim", "4,8"] if command == "tune" else []
    assert main([command, str(bundled_ratings_path()), "--threads", threads, *extra]) == 1
    assert f"--threads: expected an integer from 1 to 4096, got {threads}" in capsys.readouterr().err


def test_batch_size_zero_names_option(model_file, tmp_path, capsys):
    path, _ = model_file
    output = tmp_path / "all.csv"
    assert main(["recommend", str(path), "--all", "--batch-size", "0", "-o", str(output)]) == 1
    assert "--batch-size: expected an integer from 1 to 2147483647, got 0" in capsys.readouterr().err
    assert not output.exists()


def test_import_from_a_source_folder_without_core_explains(tmp_path):
    import shutil

    import pyanimf

    source = tmp_path / "pyanimf"
    shutil.copytree(pyanimf.__path__[0], source, ignore=shutil.ignore_patterns("_core*", "__pycache__"))
    result = subprocess.run([sys.executable, "-c", "import pyanimf"], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode != 0
    assert "compiled core (_core) is missing from" in result.stderr
    assert "Run `pytest` instead" in result.stderr
