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
from typing import Any

import mlflow
import numpy as np
import pandas as pd

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.config import Settings
from bankrisk.data.load import file_fingerprint, load_dataset
from bankrisk.data.validate import validate_frame
from bankrisk.evaluation.fairness import fairness_report
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.evaluation.model_card import ModelCardInput, render_model_card
from bankrisk.evaluation.plots import save_evaluation_plots
from bankrisk.features.engineering import build_features, feature_names
from bankrisk.monitoring.reference import reference_profiles
from bankrisk.schema import FIELD_NAMES, FIELDS, PROTECTED, TARGET
from bankrisk.training import tracking
from bankrisk.training.pipeline import CandidateResult, select_champion, train_all
from bankrisk.training.splits import split_dev_test

MODEL_CARD_FILE = "model_card.md"
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


@dataclass(frozen=True)
class TrainingData:
    raw: np.ndarray
    labels: np.ndarray
    frame: pd.DataFrame
    fingerprint: dict[str, Any]


def read_training_data(path: Path) -> TrainingData:
    frame = validate_frame(load_dataset(path), require_target=True)
    labels = frame[TARGET].to_numpy(dtype=np.int64)
    return TrainingData(
        raw=frame[list(FIELD_NAMES)].to_numpy(dtype=np.float64),
        labels=labels,
        frame=frame,
        fingerprint={
            "path": str(path),
            "sha256": file_fingerprint(path),
            "rows": int(labels.size),
            "columns": int(frame.shape[1]),
            "positive_rate": float(labels.mean()),
        },
    )


def input_fields(raw: np.ndarray) -> list[dict[str, Any]]:
    """Each input's valid range and the range seen in training (served as warnings)."""
    return [
        {
            "name": spec.name,
            "min": spec.minimum,
            "max": spec.maximum,
            "integer": spec.integer,
            "train_min": float(raw[:, j].min()),
            "train_max": float(raw[:, j].max()),
            "protected": spec.name in PROTECTED,
            "description": spec.description,
        }
        for j, spec in enumerate(FIELDS)
    ]


def _excluded_inputs(settings: Settings) -> list[str]:
    return [p for p in PROTECTED if not (p == "AGE" and settings.use_age)]


def bundle_metadata(
    result: CandidateResult,
    data: TrainingData,
    dev: np.ndarray,
    settings: Settings,
    version: str,
    test_metrics: dict[str, float],
    fairness: dict[str, Any],
) -> dict[str, Any]:
    features = build_features(data.raw[dev], settings.use_age)
    profiles = reference_profiles(
        {
            **{name: data.raw[dev, j] for j, name in enumerate(FIELD_NAMES)},
            **{
                f"feature:{n}": features[:, i]
                for i, n in enumerate(feature_names(settings.use_age))
            },
            "probability_of_default": result.oof_pd,
        }
    )
    return {
        "name": settings.registered_model_name,
        "version": version,
        "model_family": result.name,
        "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data_fingerprint": {
            **data.fingerprint,
            "dev_rows": int(dev.size),
            "test_rows": int(data.labels.size - dev.size),
        },
        "input_fields": input_fields(data.raw[dev]),
        "excluded_inputs": _excluded_inputs(settings),
        "params": result.params,
        "cv_metrics": result.cv_metrics,
        "test_metrics": test_metrics,
        "fairness": fairness,
        "costs": {
            "cost_missed_default": settings.cost_missed_default,
            "cost_declined_good": settings.cost_declined_good,
        },
        "reference_distributions": profiles,
    }


def evaluate_candidate(
    result: CandidateResult,
    data: TrainingData,
    dev: np.ndarray,
    test: np.ndarray,
    settings: Settings,
    version: str,
    out_dir: Path,
) -> tuple[ModelBundle, dict[str, float], str]:
    """Score the test split with the candidate's exported bundle (what would be served)."""
    placeholder = result.bundle(settings, {})
    y_test = data.labels[test]
    pd_test = placeholder.predict_pd(data.raw[test])
    metrics = classification_metrics(y_test, pd_test, result.threshold)
    protected = data.frame.iloc[test]
    fairness = fairness_report(
        y_test,
        pd_test,
        result.threshold,
        sex=protected["SEX"].to_numpy(),
        age=protected["AGE"].to_numpy(),
        marriage=protected["MARRIAGE"].to_numpy(),
    )
    metadata = bundle_metadata(result, data, dev, settings, version, metrics, fairness)
    bundle = result.bundle(settings, metadata)
    save_evaluation_plots(y_test, pd_test, out_dir, title=f"{result.name} (test split)")
    card = render_model_card(
        ModelCardInput(
            name=settings.registered_model_name,
            version=version,
            model_family=result.name,
            trained_at=metadata["trained_at"],
            data_fingerprint=metadata["data_fingerprint"],
            features=feature_names(settings.use_age),
            excluded_inputs=metadata["excluded_inputs"],
            metrics=metrics,
            validation_metrics=result.cv_metrics,
            fairness=fairness,
            threshold=result.threshold,
            costs=metadata["costs"],
            score_scaling=bundle.policy.to_dict()["score_scaling"],
            grade_bands=bundle.policy.grade_bands(),
        )
    )
    (out_dir / MODEL_CARD_FILE).write_text(card)
    return bundle, metrics, card


def _export(bundle_dir: Path, model_dir: Path) -> None:
    """Replace `model_dir` with a copy of `bundle_dir` (written beside it, then renamed)."""
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = model_dir.with_name(model_dir.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(bundle_dir, staging)
    shutil.rmtree(model_dir, ignore_errors=True)
    staging.rename(model_dir)


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
        reports, bundles, cards = [], {}, {}
        for result in results:
            out_dir = settings.reports_dir / stamp / result.name
            out_dir.mkdir(parents=True, exist_ok=True)
            with mlflow.start_run(run_name=result.name, nested=True) as child:
                bundle, metrics, card = evaluate_candidate(
                    result, data, dev, test, settings, version, out_dir
                )
                mlflow.log_params({k: str(v) for k, v in result.params.items()})
                mlflow.log_metrics(
                    {**{f"test_{k}": v for k, v in metrics.items()}, **result.cv_metrics}
                )
                mlflow.log_dict(data.fingerprint, "data_fingerprint.json")
                mlflow.set_tags(tracking.provenance_tags(data.fingerprint))
                mlflow.log_artifacts(str(out_dir))
            reports.append(
                CandidateReport(result.name, metrics, result.cv_metrics, child.info.run_id)
            )
            bundles[result.name], cards[result.name] = bundle, card
        champion = select_champion(results)
        bundle_dir = Path(tmp) / "bundle"
        bundles[champion.name].save(bundle_dir)
        (bundle_dir / MODEL_CARD_FILE).write_text(cards[champion.name])
        progress(f"registering {champion.name} as {settings.registered_model_name} v{version}")
        registered = tracking.log_bundle_model(bundle_dir, settings)
        if registered != version:  # another training registered in between
            progress(f"warning: registry gave v{registered}; the bundle says v{version}")
        new_auc = next(r.metrics["roc_auc"] for r in reports if r.name == champion.name)
        previous = tracking.champion_bundle(settings, Path(tmp) / "previous")
        previous_auc = None
        if previous is not None:
            previous_pd = previous[1].predict_pd(data.raw[test])
            previous_auc = classification_metrics(
                data.labels[test], previous_pd, previous[1].policy.threshold
            )["roc_auc"]
        alias = tracking.promotion_decision(new_auc, previous_auc, settings.promotion_min_auc_gain)
        tracking.set_alias(settings, registered, alias)
        gate_reason = (
            "no champion yet"
            if previous is None
            else f"test AUC {new_auc:.4f} vs champion v{previous[0]} {previous_auc:.4f}"
        )
        mlflow.set_tags(
            {
                "champion_family": champion.name,
                "registered_version": registered,
                "alias": alias,
                "gate": gate_reason,
            }
        )
        exported = alias == tracking.CHAMPION
        if exported:
            _export(bundle_dir, model_dir)
        elif previous is not None and not (model_dir / "metadata.json").is_file():
            # Keep the served bundle the registry's champion even if the folder was deleted.
            previous_dir = Path(tmp) / "previous" / "artifacts" / "bundle"
            _export(previous_dir, model_dir)
            exported = True
    return TrainReport(
        reports,
        champion.name,
        registered,
        alias,
        gate_reason,
        model_dir,
        exported,
        parent.info.run_id,
        results,
        test,
    )
