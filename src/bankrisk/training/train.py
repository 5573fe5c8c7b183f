"""`bankrisk train`: the I/O edge of training. Reads data, runs the pipeline, evaluates every
candidate on the test split, tracks it all in MLflow, registers the winner behind the
promotion gate and exports the champion's serving bundle."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import mlflow
import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import BUNDLE_ARTIFACT, METADATA_FILE, install_bundle
from bankrisk.config import Settings
from bankrisk.data.training_data import TrainingData, read_training_data
from bankrisk.training import gate, tracking
from bankrisk.training.assessment import evaluate_candidate
from bankrisk.training.pipeline import CandidateResult, Progress, select_champion, train_all
from bankrisk.training.splits import split_dev_test


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
    alias: gate.Alias
    gate_reason: str
    model_dir: Path
    bundle_exported: bool
    parent_run_id: str
    results: list[CandidateResult]
    test_index: np.ndarray
    verdict: gate.GateResult | None = None
    replaced_version: str | None = None  # the champion it replaced (now `previous`), if any


def _track_candidate(
    result: CandidateResult,
    data: TrainingData,
    dev: np.ndarray,
    test: np.ndarray,
    settings: Settings,
    version: str,
    out_dir: Path,
    experiment_id: str,
) -> tuple[CandidateReport, ModelBundle, str]:
    """Evaluate one candidate in its own child run: parameters, metrics, plots, card."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with mlflow.start_run(run_name=result.name, nested=True, experiment_id=experiment_id) as child:
        bundle, metrics, card = evaluate_candidate(
            result, data, dev, test, settings, version, out_dir
        )
        mlflow.log_params({k: str(v) for k, v in result.params.items()})
        mlflow.log_metrics({**{f"test_{k}": v for k, v in metrics.items()}, **result.cv_metrics})
        mlflow.log_dict(data.fingerprint, "data_fingerprint.json")
        mlflow.set_tags(tracking.provenance_tags(data.fingerprint))
        mlflow.log_artifacts(str(out_dir))
    return CandidateReport(result.name, metrics, result.cv_metrics, child.info.run_id), bundle, card


def run_training(
    data_path: Path,
    settings: Settings,
    model_dir: Path,
    progress: Progress,
    force: bool = False,
    reader: Callable[[Path], TrainingData] = read_training_data,
) -> TrainReport:
    """Train, track and register; `force` makes the new version champion whatever the gate
    finds (its verdict is still recorded). `reader` turns `data_path` into the validated
    rows (a data file by default; the feature store's point-in-time join for `--entities`)."""
    progress(f"reading {data_path}")
    data = reader(data_path)
    dev, test = split_dev_test(data.labels, settings.test_size, settings.seed)
    progress(f"{data.labels.size} rows: {dev.size} to develop, {test.size} held out for test")
    experiment_id = tracking.configure_mlflow(settings)
    client = mlflow.tracking.MlflowClient()
    version = str(tracking.next_model_version(client, settings.registered_model_name))
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    with (
        mlflow.start_run(run_name=f"train-{stamp}", experiment_id=experiment_id) as parent,
        tempfile.TemporaryDirectory() as tmp,
    ):
        mlflow.set_tags(tracking.provenance_tags(data.fingerprint))
        mlflow.log_params({k: str(v) for k, v in settings.model_dump().items() if k != "api_keys"})
        mlflow.log_dict(data.fingerprint, "data_fingerprint.json")
        results = train_all(data.raw[dev], data.labels[dev], settings, progress)
        tracked = {
            r.name: _track_candidate(
                r,
                data,
                dev,
                test,
                settings,
                version,
                settings.reports_dir / stamp / r.name,
                experiment_id,
            )
            for r in results
        }
        champion = select_champion(results)
        report, bundle, card = tracked[champion.name]
        bundle_dir = Path(tmp) / BUNDLE_ARTIFACT
        bundle.save(bundle_dir, model_card=card)
        progress(f"registering {champion.name} as {settings.registered_model_name} v{version}")
        registered = tracking.log_bundle_model(bundle_dir, settings)
        if registered != version:  # another training registered in between
            progress(f"warning: registry gave v{registered}; the bundle says v{version}")
        split = gate.DataSplit(str(data.fingerprint["sha256"]), settings.seed, settings.test_size)
        tracking.tag_version(
            settings,
            registered,
            {
                **tracking.version_tags(champion.name, report.metrics, parent.info.run_id),
                **split.tags(),
            },
        )
        verdict = gate.promotion_gate(
            settings,
            bundle,
            split,
            data.raw[test],
            data.labels[test],
            Path(tmp) / "prev",
            force=force,
        )
        verdict = replace(verdict, extra={"gate.context": "train"})
        progress(f"gate: {verdict.alias} ({verdict.reason})")
        replaced = gate.apply_verdict(settings, registered, verdict)
        gate.record_verdict(settings, registered, verdict)
        mlflow.set_tags(
            {
                "champion_family": champion.name,
                "registered_version": registered,
                "alias": verdict.alias,
                "gate": verdict.reason[:4900],
                **verdict.tags(),
            }
        )
        if verdict.comparison is not None:
            mlflow.log_metrics(verdict.comparison.metrics())
        exported = verdict.promoted
        if exported:
            install_bundle(bundle_dir, model_dir)
        elif verdict.champion_bundle_dir and not (model_dir / METADATA_FILE).is_file():
            # Keep the served bundle the registry's champion even if the folder was deleted.
            install_bundle(verdict.champion_bundle_dir, model_dir)
            exported = True
    return TrainReport(
        candidates=[tracked[r.name][0] for r in results],
        champion=champion.name,
        registered_version=registered,
        alias=verdict.alias,
        gate_reason=verdict.reason,
        model_dir=model_dir,
        bundle_exported=exported,
        parent_run_id=parent.info.run_id,
        results=results,
        test_index=test,
        verdict=verdict,
        replaced_version=replaced,
    )
