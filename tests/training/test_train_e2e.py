"""End to end on the shared data: `bankrisk train` trains, tracks, registers and exports."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.data.training_data import read_training_data
from bankrisk.evaluation.evaluate import evaluate_bundle
from bankrisk.schema import FIELD_NAMES, PROTECTED
from bankrisk.training.tracking import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from bankrisk.training.train import TrainReport

if TYPE_CHECKING:
    from helpers.trained import Trained

pytestmark = pytest.mark.slow
BANKRISK = str(Path(sys.executable).with_name("bankrisk"))


# The session's one training run (tests/conftest.py), shared with tests/model.
@pytest.fixture(scope="module")
def workdir(trained: Trained) -> Path:
    return trained.workdir


@pytest.fixture(scope="module")
def settings(trained: Trained) -> Settings:
    return trained.settings


@pytest.fixture(scope="module")
def report(trained: Trained) -> TrainReport:
    return trained.report


def test_first_training_registers_a_champion(report: TrainReport, settings: Settings) -> None:
    assert report.alias == "champion" and report.bundle_exported
    assert {c.name for c in report.candidates} == {"scorecard", "gbm", "mlp"}
    client = MlflowClient(settings.mlflow_tracking_uri)
    version = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert str(version.version) == report.registered_version == "1"


def test_runs_are_in_the_named_experiment_with_artifacts_under_the_root(
    report: TrainReport, settings: Settings
) -> None:
    client = MlflowClient(settings.mlflow_tracking_uri)
    experiment = client.get_experiment_by_name(settings.experiment_name)
    assert experiment is not None and experiment.name == "bank-default-risk"
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND == "custom_model_development"
    root = settings.mlflow_artifact_root.resolve()
    assert experiment.artifact_location == root.as_uri()
    run_ids = [report.parent_run_id, *(c.run_id for c in report.candidates)]
    for run_id in run_ids:
        run = client.get_run(run_id)
        assert run.info.experiment_id == experiment.experiment_id
        assert run.info.artifact_uri.startswith(root.as_uri() + "/")
    every_run = client.search_runs([e.experiment_id for e in client.search_experiments()])
    assert {r.info.experiment_id for r in every_run} == {experiment.experiment_id}
    # The artifacts are files under the root, e.g. each candidate's plots and the model.
    for candidate in report.candidates:
        run_dir = root / candidate.run_id / "artifacts"
        assert (run_dir / "roc_curve.png").is_file(), sorted(root.rglob("*"))[:20]
    version = client.get_model_version_by_alias(settings.registered_model_name, "champion")
    assert (version.source or "").startswith(("models:/", root.as_uri()))
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)  # other modules use other stores
    model_files = mlflow.artifacts.download_artifacts(f"models:/{version.name}/{version.version}")
    assert Path(model_files, "MLmodel").is_file()
    assert any(p.name == "MLmodel" for p in root.rglob("MLmodel"))


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


def test_evaluate_warns_on_the_rows_the_champion_was_trained_on(
    report: TrainReport, shared_csv: Path, tmp_path: Path
) -> None:
    data = read_training_data(shared_csv)
    test = np.zeros(data.labels.size, dtype=bool)
    test[report.test_index] = True
    scores = tmp_path / "scores.csv"
    result = evaluate_bundle(report.model_dir, shared_csv, scores)
    seen = pd.read_csv(scores)["seen_in_training"].to_numpy()
    assert seen[~test].all()  # every development row is recognised...
    assert seen[test].mean() < 0.005  # ...and test rows only if a development row is identical
    n, n_seen = data.labels.size, int(seen.sum())
    assert result["training_overlap"] == {"rows": n, "seen_in_training": n_seen}
    (warning,) = result["warnings"]
    assert warning.startswith(f"{n_seen:,} of {n:,} rows (80%) were used to train this model")
    # The test split alone: no warning, and the metrics the training reported.
    test_file = tmp_path / "test.csv"
    data.frame.iloc[report.test_index].to_csv(test_file, index=False)
    on_test = evaluate_bundle(report.model_dir, test_file)
    assert on_test["training_overlap"]["seen_in_training"] == int(seen[test].sum())
    champion = next(c for c in report.candidates if c.name == report.champion)
    if not seen[test].any():
        assert on_test["warnings"] == []
    assert on_test["metrics"]["roc_auc"] == pytest.approx(champion.metrics["roc_auc"], abs=1e-9)


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
        "BANKRISK_MLFLOW_ARTIFACT_ROOT": str(settings.mlflow_artifact_root),
        "BANKRISK_REPORTS_DIR": str(settings.reports_dir),
        "BANKRISK_CANDIDATES": "scorecard",
    }
    cwd = workdir / "cwd"  # an empty working directory: nothing may land in it
    cwd.mkdir()
    result = subprocess.run(
        [BANKRISK, "train", "--data", str(shared_csv), "--model-dir", str(report.model_dir)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "challenger" in result.stdout and "Not promoted" in result.stdout
    assert "Warning" not in result.stderr, result.stderr  # MLflow's advice on type hints
    assert (report.model_dir / "metadata.json").read_text() == before
    client = MlflowClient(settings.mlflow_tracking_uri)
    name = settings.registered_model_name
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    assert str(client.get_model_version_by_alias(name, "champion").version) == "1"
    # Before runs were started in the named experiment, they went to `Default` with their
    # artifacts under ./mlruns/0 of the working directory.
    assert list(cwd.iterdir()) == []
    experiment = client.get_experiment_by_name(settings.experiment_name)
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    assert {r.info.run_id for r in runs} >= {report.parent_run_id}
    assert len(runs) == (1 + 3) + (1 + 1)  # each training: a parent and its candidates
