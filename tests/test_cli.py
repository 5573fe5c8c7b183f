"""The CLI's user errors: one clear line, exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

BANKRISK = str(Path(sys.executable).with_name("bankrisk"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BANKRISK, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["train", "--help"],
        ["evaluate", "--help"],
        ["data", "download", "--help"],
        ["serve", "--help"],
    ],
)
def test_help(command: list[str], tmp_path: Path) -> None:
    result = run(*command, cwd=tmp_path)
    assert result.returncode == 0 and "Usage" in result.stdout


def test_missing_data_file(tmp_path: Path) -> None:
    result = run("train", "--data", "nowhere.csv", cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.csv" in result.stderr and "Traceback" not in result.stderr


def test_invalid_data_names_the_column(tmp_path: Path, shared_csv: Path) -> None:
    frame = pd.read_csv(shared_csv).head(500)
    frame.loc[:9, "LIMIT_BAL"] = -1
    bad = tmp_path / "bad.csv"
    frame.to_csv(bad, index=False)
    result = run("train", "--data", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert "LIMIT_BAL" in result.stderr and "10 rows" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "mlflow.db").exists()  # refused before anything was tracked


def test_evaluate_without_a_bundle(tmp_path: Path, shared_csv: Path) -> None:
    result = run("evaluate", "--model-dir", "nope", "--data", str(shared_csv), cwd=tmp_path)
    assert result.returncode == 2
    assert "nope" in result.stderr and "Traceback" not in result.stderr


def test_bad_setting_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [BANKRISK, "train", "--data", "x.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BANKRISK_TEST_SIZE": "0.9"},
        timeout=60,
    )
    assert result.returncode == 2
    assert "test_size" in result.stderr and "Traceback" not in result.stderr


def test_download_offline_fails_at_once_and_names_data(tmp_path: Path) -> None:
    # No network but the package registries here: the UCI host does not resolve.
    result = run("data", "download", "--dest", str(tmp_path / "data"), cwd=tmp_path)
    assert result.returncode == 2
    assert "--data" in result.stderr and "Traceback" not in result.stderr


def test_train_without_data_tries_the_download_and_says_what_to_do(tmp_path: Path) -> None:
    result = run("train", cwd=tmp_path)
    assert result.returncode == 2
    assert "--data" in result.stderr and "Traceback" not in result.stderr
