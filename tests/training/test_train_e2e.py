"""End to end on the shared data: `bankrisk train` trains, tracks, registers and exports."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.schema import FIELD_NAMES, PROTECTED
from bankrisk.training.assessment import read_training_data
from bankrisk.training.train import TrainReport, run_training

pytestmark = pytest.mark.slow
BANKRISK = str(Path(sys.executable).with_name("bankrisk"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("train")
    previous = os.getcwd()
    os.chdir(path)  # the default local MLflow store, reports and models land here
    yield path
    os.chdir(previous)


@pytest.fixture(scope="module")
def settings(workdir: Path) -> Settings:
    return Settings(
        mlflow_tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        mlflow_artifact_root=workdir / "mlartifacts",
        reports_dir=workdir / "reports",
    )


@pytest.fixture(scope="module")
def report(settings: Settings, shared_csv: Path, workdir: Path) -> TrainReport:
    return run_training(shared_csv, settings, workdir / "models" / "champion", lambda _: None)


def test_first_training_registers_a_champion(report: TrainReport, settings: Settings) -> None:
    assert report.alias == "champion" and report.bundle_exported
    assert {c.name for c in report.candidates} == {"scorecard", "gbm", "mlp"}
    client = MlflowClient(settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert str(version.version) == report.registered_version == "1"


def test_bundle_equals_the_trained_pipeline(report: TrainReport, shared_csv: Path) -> None:
    data = read_training_data(shared_csv)
    bundle = ModelBundle.load(report.model_dir)
    champion = next(r for r in report.results if r.name == report.champion)
    rows = data.raw[report.test_index]
    native = champion.native_pd(bundle.features(rows))
    np.testing.assert_allclose(bundle.predict_pd(rows), native, atol=1e-5)


def test_bundle_metadata(report: TrainReport, shared_csv: Path) -> None:
    meta = ModelBundle.load(report.model_dir).metadata
    assert meta["data_fingerprint"]["sha256"] == hashlib.sha256(shared_csv.read_bytes()).hexdigest()
    assert meta["data_fingerprint"]["rows"] == len(pd.read_csv(shared_csv))
    assert set(meta["excluded_inputs"]) == set(PROTECTED)
    names = " ".join(f["name"] for f in meta["features"]).lower()
    assert "sex" not in names and "marriage" not in names and "age" not in names.split()
    assert {"roc_auc", "brier", "ece", "ks", "gini"} <= set(meta["test_metrics"])
    assert 0.0 < meta["policy"]["review_threshold"] < meta["policy"]["threshold"] < 1.0
    profile = meta["reference_distributions"]["LIMIT_BAL"]
    assert abs(sum(profile["proportions"]) - 1.0) < 1e-9
    assert (report.model_dir / "model_card.md").read_text().startswith("#")
    # The champion is good on held-out data (the full bar is the CV benchmark's job).
    assert meta["test_metrics"]["roc_auc"] > 0.77


def test_runs_are_tracked_with_provenance(report: TrainReport, settings: Settings) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    parent = client.get_run(report.parent_run_id)
    assert len(parent.data.tags["data_sha256"]) == 64
    assert "version.mlflow" in parent.data.tags and "git_commit" in parent.data.tags
    for candidate in report.candidates:
        run = client.get_run(candidate.run_id)
        assert run.data.tags["mlflow.parentRunId"] == report.parent_run_id
        assert run.data.metrics["test_roc_auc"] == pytest.approx(candidate.metrics["roc_auc"])
        artifacts = {a.path for a in client.list_artifacts(candidate.run_id)}
        assert {
            "roc_curve.png",
            "calibration_curve.png",
            "score_distribution.png",
            "model_card.md",
            "data_fingerprint.json",
        } <= artifacts


def test_registered_model_is_a_pyfunc(
    report: TrainReport, settings: Settings, shared_csv: Path
) -> None:
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{settings.registered_model_name}@champion")
    frame = pd.read_csv(shared_csv).head(200)  # int64 columns, ID and target included
    expected = ModelBundle.load(report.model_dir).predict_pd(
        frame[list(FIELD_NAMES)].to_numpy(dtype=float)
    )
    np.testing.assert_array_equal(np.asarray(model.predict(frame)), expected)
    with pytest.raises(mlflow.exceptions.MlflowException, match="AGE"):
        model.predict(frame.drop(columns=["AGE"]))


def test_a_weaker_model_becomes_challenger(
    report: TrainReport, settings: Settings, shared_csv: Path, workdir: Path
) -> None:
    before = (report.model_dir / "metadata.json").read_text()
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "BANKRISK_CANDIDATES": "scorecard",
    }
    result = subprocess.run(
        [BANKRISK, "train", "--data", str(shared_csv), "--model-dir", str(report.model_dir)],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "challenger" in result.stdout and "Not promoted" in result.stdout
    assert (report.model_dir / "metadata.json").read_text() == before
    client = MlflowClient(settings.mlflow_tracking_uri)
    name = settings.registered_model_name
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
