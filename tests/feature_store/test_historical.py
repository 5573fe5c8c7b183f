"""Training frames from the store: Feast's point-in-time join gives, for each entity row, the
snapshot known at its time, and exactly the rows a data file gives for the same customers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from bankrisk.cli import app
from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data, row_digests
from bankrisk.errors import DataError
from bankrisk.feature_store.historical import training_data
from bankrisk.schema import FIELD_NAMES, TARGET
from helpers.feature_store import head_csv, materialized

ROWS = 400
NOW = datetime.now(UTC).replace(microsecond=0)
OLD, NEW = NOW - timedelta(days=20), NOW - timedelta(days=5)  # two monthly snapshots


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("historical")
    return {
        "new": head_csv(shared_csv, ROWS, folder / "new.csv"),
        "old": head_csv(shared_csv, ROWS, folder / "old.csv", LIMIT_BAL=2),
    }


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory, files: dict[str, Path]) -> Path:
    repo = materialized(tmp_path_factory.mktemp("repo"), files["old"], OLD).snapshot.parents[2]
    materialized(repo, files["new"], NEW)
    return repo


def entities(source: Path, dest: Path, when: datetime | list[datetime]) -> Path:
    rows = pd.read_csv(source)
    pd.DataFrame({"customer_id": rows["ID"], "event_timestamp": when, TARGET: rows[TARGET]}).to_csv(
        dest, index=False
    )
    return dest


def test_the_frame_equals_the_same_rows_from_the_file(
    repo: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    labels = entities(files["new"], tmp_path / "entities.csv", NEW + timedelta(days=1))

    from_store = training_data(repo, labels)
    from_file = read_training_data(files["new"])

    pd.testing.assert_frame_equal(from_store.frame, from_file.frame)
    assert np.array_equal(from_store.raw, from_file.raw)
    assert np.array_equal(from_store.labels, from_file.labels)
    assert np.array_equal(
        row_digests(from_store.raw, from_store.labels), row_digests(from_file.raw, from_file.labels)
    )
    same = ("rows", "columns", "positive_rate")
    assert {k: from_store.fingerprint[k] for k in same} == {
        k: from_file.fingerprint[k] for k in same
    }
    assert from_store.fingerprint["file"] == "entities.csv"
    assert from_store.fingerprint["source"].startswith("feast:customer_features")


def test_each_row_gets_the_snapshot_known_at_its_time(
    repo: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    between = OLD + (NEW - OLD) / 2
    times = [between if i % 2 else NEW for i in range(ROWS)]
    frame = training_data(repo, entities(files["new"], tmp_path / "e.csv", times)).frame

    limits = pd.read_csv(files["new"])["LIMIT_BAL"].to_numpy(dtype=float)
    expected = np.where(np.arange(ROWS) % 2 == 1, 2 * limits, limits)
    assert np.array_equal(frame["LIMIT_BAL"].to_numpy(), expected)
    assert frame.columns.tolist()[1:] == [*FIELD_NAMES, TARGET]


@pytest.mark.parametrize(
    ("when", "why"),
    [(OLD - timedelta(days=1), "before any snapshot"), (NEW + timedelta(days=40), "beyond TTL")],
)
def test_rows_without_features_at_their_time_are_refused(
    repo: Path, files: dict[str, Path], tmp_path: Path, when: datetime, why: str
) -> None:
    labels = entities(files["new"], tmp_path / "e.csv", NEW)
    frame = pd.read_csv(labels)
    frame.loc[[3, 7], "event_timestamp"] = str(when)
    frame.to_csv(labels, index=False)

    with pytest.raises(
        DataError, match=r"^2 entity rows have no features in the store .*\(customer ids 4, 8"
    ):
        training_data(repo, labels)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (
            lambda f: f.drop(columns=["event_timestamp"]),
            "missing required column(s) event_timestamp",
        ),
        (lambda f: f.drop(columns=[TARGET]), f"missing required column(s) {TARGET}"),
        (
            lambda f: f.assign(event_timestamp="soon"),
            "column event_timestamp: 400 rows are not times",
        ),
        (lambda f: f.assign(**{TARGET: 3}), TARGET),
    ],
    ids=["no-time", "no-label", "bad-time", "bad-label"],
)
def test_bad_entities_are_refused_naming_the_column(
    repo: Path, files: dict[str, Path], tmp_path: Path, change: object, named: str
) -> None:
    labels = entities(files["new"], tmp_path / "e.csv", NEW)
    change(pd.read_csv(labels)).to_csv(labels, index=False)  # type: ignore[operator]
    with pytest.raises(DataError) as caught:
        training_data(repo, labels)
    assert named in str(caught.value)


def test_train_cli_refuses_half_or_mixed_sources(tmp_path: Path, files: dict[str, Path]) -> None:
    runner = CliRunner()
    half = runner.invoke(app, ["train", "--features", str(tmp_path)])
    mixed = runner.invoke(
        app,
        ["train", "--features", str(tmp_path), "--entities", "e.csv", "--data", str(files["new"])],
    )
    assert half.exit_code == mixed.exit_code == 2
    assert "--features and --entities go together" in half.output
    assert "--data cannot be combined with --features" in mixed.output


def test_train_cli_reports_bad_entities_as_one_line(
    repo: Path, files: dict[str, Path], tmp_path: Path
) -> None:
    labels = tmp_path / "e.csv"
    pd.read_csv(files["new"])[["ID", TARGET]].to_csv(labels, index=False)
    result = CliRunner().invoke(app, ["train", "--features", str(repo), "--entities", str(labels)])
    assert result.exit_code == 2
    assert (
        "\nerror: " in result.output
        and "missing required column(s) event_timestamp" in result.output
    )
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_train_from_the_store_develops_on_the_files_rows(tmp_path: Path, shared_csv: Path) -> None:
    """One real `bankrisk train --features --entities` (scorecard only, 3,000 rows, ~40 s):
    the champion was developed on exactly the development rows training on the file uses."""
    import json
    import subprocess
    import sys

    from bankrisk.data.training_data import encode_digests
    from bankrisk.training.splits import split_dev_test
    from helpers.processes import clean_env

    data = head_csv(shared_csv, 3000, tmp_path / "data.csv")
    repo = materialized(tmp_path / "repo", data, NEW).snapshot.parents[2]
    labels = entities(data, tmp_path / "entities.csv", NEW + timedelta(days=1))
    env = clean_env(
        MLFLOW_TRACKING_URI=f"sqlite:///{tmp_path / 'mlflow.db'}",
        BANKRISK_MLFLOW_ARTIFACT_ROOT=str(tmp_path / "artifacts"),
        BANKRISK_REPORTS_DIR=str(tmp_path / "reports"),
        BANKRISK_CANDIDATES="scorecard",
    )
    bankrisk = Path(sys.executable).with_name("bankrisk")
    model_dir = tmp_path / "model"
    command = [str(bankrisk), "train", "--features", str(repo), "--entities", str(labels)]
    done = subprocess.run(
        [*command, "--model-dir", str(model_dir)], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]

    metadata = json.loads((model_dir / "metadata.json").read_text())
    file_rows = read_training_data(data)
    settings = Settings()
    dev, _ = split_dev_test(file_rows.labels, settings.test_size, settings.seed)
    expected = encode_digests(row_digests(file_rows.raw[dev], file_rows.labels[dev]))
    assert metadata["training_rows"] == expected
    assert metadata["data_fingerprint"]["source"].startswith("feast:customer_features")
