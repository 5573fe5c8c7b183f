"""`bankrisk train`: the I/O edge of training. Reads data, runs the pipeline, evaluates every
candidate on the test split, tracks it all in MLflow, registers the winner behind the
promotion gate and exports the champion's serving bundle."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np

from bankrisk.bundle.model_bundle import METADATA_FILE, ModelBundle
from bankrisk.config import Settings
from bankrisk.errors import BundleError
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.training import tracking
from bankrisk.training.assessment import (
    MODEL_CARD_FILE,
    TrainingData,
    evaluate_candidate,
    read_training_data,
)
from bankrisk.training.pipeline import CandidateResult, select_champion, train_all
from bankrisk.training.splits import split_dev_test

Progress = Callable[[str], None]


@dataclass
class CandidateReport:
    name: str
    metrics: dict[str, float]
    cv_metrics: dict[str, float]
    run_id: str


@dataclass
class TrainReport:
    candidates: list[CandidateReport]
    champion: str
    registered_version: str
    alias: str
    gate_reason: str
    model_dir: Path
    bundle_exported: bool
    parent_run_id: str
    results: list[CandidateResult]
    test_index: np.ndarray


def _export(bundle_dir: Path, model_dir: Path) -> None:
    """Replace `model_dir` with a copy of `bundle_dir` (written beside it, then renamed)."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = model_dir.with_name(model_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundle_dir, staging)
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)


def _track_candidate(
    result: CandidateResult,
    data: TrainingData,
    dev: np.ndarray,
    test: np.ndarray,
    settings: Settings,
    version: str,
    out_dir: Path,
) -> tuple[CandidateReport, ModelBundle, str]:
    """Evaluate one candidate in its own child run: parameters, metrics, plots, card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=result.name, nested=True) as child:
        bundle, metrics, card = evaluate_candidate(
            result, data, dev, test, settings, version, out_dir
        )
        mlflow.log_params({k: str(v) for k, v in result.params.items()})
        mlflow.log_metrics({**{f"test_{k}": v for k, v in metrics.items()}, **result.cv_metrics})
        mlflow.log_dict(data.fingerprint, "data_fingerprint.json")
        mlflow.set_tags(tracking.provenance_tags(data.fingerprint))
        mlflow.log_artifacts(str(out_dir))
    return CandidateReport(result.name, metrics, result.cv_metrics, child.info.run_id), bundle, card


@dataclass(frozen=True)
class GateOutcome:
    alias: str
    reason: str
    previous_bundle_dir: Path | None


def _promotion_gate(
    settings: Settings, data: TrainingData, test: np.ndarray, new_auc: float, workdir: Path
) -> GateOutcome:
    """Score the current champion on this run's test rows and compare AUCs.

    A champion this code cannot score (its features changed since) cannot be compared: the
    new model is promoted and the reason says so.
    """
    try:
        previous = tracking.champion_bundle(settings, workdir)
    except BundleError as exc:
        return GateOutcome(tracking.CHAMPION, f"current champion not comparable ({exc})", None)
    if previous is None:
        return GateOutcome(tracking.promotion_decision(new_auc, None, 0.0), "no champion yet", None)
    version, bundle = previous
    previous_auc = classification_metrics(
        data.labels[test], bundle.predict_pd(data.raw[test]), bundle.policy.threshold
    )["roc_auc"]
    alias = tracking.promotion_decision(new_auc, previous_auc, settings.promotion_min_auc_gain)
    reason = f"test AUC {new_auc:.4f} vs champion v{version} {previous_auc:.4f}"
    return GateOutcome(alias, reason, workdir / "artifacts" / "bundle")


def run_training(
    data_path: Path, settings: Settings, model_dir: Path, progress: Progress
) -> TrainReport:
    progress(f"reading {data_path}")
    data = read_training_data(data_path)
    dev, test = split_dev_test(data.labels, settings.test_size, settings.seed)
    progress(f"{data.labels.size} rows: {dev.size} to develop, {test.size} held out for test")
    tracking.configure_mlflow(settings)
    client = mlflow.tracking.MlflowClient()
    version = str(tracking.next_model_version(client, settings.registered_model_name))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with (
        mlflow.start_run(run_name=f"train-{stamp}") as parent,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.set_tags(tracking.provenance_tags(data.fingerprint))
        mlflow.log_params({k: str(v) for k, v in settings.model_dump().items() if k != "api_keys"})
        mlflow.log_dict(data.fingerprint, "data_fingerprint.json")
        results = train_all(data.raw[dev], data.labels[dev], settings, progress)
        tracked = {
            r.name: _track_candidate(
                r, data, dev, test, settings, version, settings.reports_dir / stamp / r.name
            )
            for r in results
        }
        champion = select_champion(results)
        report, bundle, card = tracked[champion.name]
        bundle_dir = Path(tmp) / "bundle"
        bundle.save(bundle_dir)
        (bundle_dir / MODEL_CARD_FILE).write_text(card)
        progress(f"registering {champion.name} as {settings.registered_model_name} v{version}")
        registered = tracking.log_bundle_model(bundle_dir, settings)
        if registered != version:  # another training registered in between
            progress(f"warning: registry gave v{registered}; the bundle says v{version}")
        gate = _promotion_gate(settings, data, test, report.metrics["roc_auc"], Path(tmp) / "prev")
        tracking.set_alias(settings, registered, gate.alias)
        mlflow.set_tags(
            {
                "champion_family": champion.name,
                "registered_version": registered,
                "alias": gate.alias,
                "gate": gate.reason,
            }
        )
        exported = gate.alias == tracking.CHAMPION
        if exported:
            _export(bundle_dir, model_dir)
        elif gate.previous_bundle_dir and not (model_dir / METADATA_FILE).is_file():
            # Keep the served bundle the registry's champion even if the folder was deleted.
            _export(gate.previous_bundle_dir, model_dir)
            exported = True
    return TrainReport(
        candidates=[tracked[r.name][0] for r in results],
        champion=champion.name,
        registered_version=registered,
        alias=gate.alias,
        gate_reason=gate.reason,
        model_dir=model_dir,
        bundle_exported=exported,
        parent_run_id=parent.info.run_id,
        results=results,
        test_index=test,
    )
