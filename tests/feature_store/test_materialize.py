"""`bankrisk features materialize`: snapshots offline, Feast's apply and materialize online,
and bad data files refused with the column named (exit code 2, nothing written)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from bankrisk.cli import app
from bankrisk.feature_store import OFFLINE_DIR
from bankrisk.feature_store.online import OnlineFeatures
from bankrisk.schema import FIELD_NAMES
from helpers.feature_store import head_csv, materialized, new_repo

runner = CliRunner()


def _materialize(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["features", "materialize", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory, shared_csv: Path) -> Path:
    return head_csv(shared_csv, 300, tmp_path_factory.mktemp("data") / "head.csv")


def test_cli_writes_the_snapshot_and_fills_the_online_store(
    tmp_path: Path, small_csv: Path
) -> None:
    repo = new_repo(tmp_path / "repo")
    code, output = _materialize(
        "--repo", str(repo), "--data", str(small_csv), "--as-of", "2026-11-01"
    )

    assert code == 0, output
    assert "300 customers as of 2026-11-01T00:00:00+00:00" in output
    snapshots = list((repo / OFFLINE_DIR).glob("*.parquet"))
    assert len(snapshots) == 1
    written = pd.read_parquet(snapshots[0])
    source = pd.read_csv(small_csv)
    assert written["customer_id"].tolist() == source["ID"].astype(str).tolist()
    assert (written["event_timestamp"] == pd.Timestamp("2026-11-01", tz="UTC")).all()
    for name in FIELD_NAMES:
        assert written[name].tolist() == source[name].astype(float).tolist(), name
    found = OnlineFeatures(repo).read("300")
    assert found is not None and found.values is not None
    assert found.values == {n: float(source.iloc[299][n]) for n in FIELD_NAMES}
    assert found.event_time == datetime(2026, 11, 1, tzinfo=UTC)


def test_a_later_snapshot_stays_online_when_an_older_one_is_loaded(
    tmp_path: Path, small_csv: Path, shared_csv: Path
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    doubled = head_csv(shared_csv, 300, tmp_path / "doubled.csv", LIMIT_BAL=2)
    repo = materialized(tmp_path / "repo", small_csv, now - timedelta(days=1)).snapshot.parents[2]
    materialized(repo, doubled, now - timedelta(days=10))  # older data, loaded later

    found = OnlineFeatures(repo).read("1")
    assert found is not None and found.values is not None
    assert found.values["LIMIT_BAL"] == float(pd.read_csv(small_csv)["LIMIT_BAL"][0])
    assert found.event_time == now - timedelta(days=1)
    assert len(list((repo / OFFLINE_DIR).glob("*.parquet"))) == 2


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda f: f.drop(columns=["ID"]), "missing required column ID"),
        (lambda f: f.drop(columns=["PAY_AMT3"]), "PAY_AMT3"),
        (lambda f: f.assign(AGE=f["AGE"].astype(object).where(f.index != 3, "old")), "AGE"),
        (lambda f: f.assign(LIMIT_BAL=-f["LIMIT_BAL"]), "LIMIT_BAL"),
        (lambda f: f.assign(ID=1), "duplicated IDs"),
        (
            lambda f: f.assign(ID=f["ID"].astype(str).where(f.index != 5, "x" * 65)),
            "longer than 64 characters",
        ),
    ],
    ids=["no-id", "missing-field", "not-a-number", "out-of-range", "duplicate-ids", "long-id"],
)
def test_bad_files_are_refused_naming_the_column(
    tmp_path: Path, small_csv: Path, change: object, named: str
) -> None:
    bad = tmp_path / "bad.csv"
    change(pd.read_csv(small_csv)).to_csv(bad, index=False)  # type: ignore[operator]
    repo = new_repo(tmp_path / "repo")

    code, output = _materialize("--repo", str(repo), "--data", str(bad))

    assert code == 2
    assert output.startswith("error: ") and named in output, output
    assert "Traceback" not in output
    assert not (repo / "data").exists()  # nothing written, nothing registered


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--data", "missing.csv"], "file not found"),
        (["--data", "{csv}", "--as-of", "yesterday"], "--as-of: 'yesterday' is not an ISO 8601"),
        (["--data", "{csv}", "--as-of", "2999-01-01"], "is in the future"),
        (["--data", "{csv}", "--repo", "no-such-repo"], "no such folder"),
    ],
    ids=["no-file", "bad-time", "future", "no-repo"],
)
def test_bad_arguments_are_one_line(
    tmp_path: Path, small_csv: Path, args: list[str], named: str
) -> None:
    repo = new_repo(tmp_path / "repo")
    args = [a.replace("{csv}", str(small_csv)) for a in args]
    if "--repo" not in args:
        args += ["--repo", str(repo)]
    args = [str(tmp_path / a) if a in ("missing.csv", "no-such-repo") else a for a in args]

    code, output = _materialize(*args)

    assert code == 2 and named in output, output
    assert "Traceback" not in output


def test_a_folder_without_feature_store_yaml_is_named(tmp_path: Path, small_csv: Path) -> None:
    code, output = _materialize("--repo", str(tmp_path), "--data", str(small_csv))
    assert code == 2 and "no feature_store.yaml" in output, output
