"""Assessing a trained candidate on the test split, and the metadata its bundle carries."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.store import MODEL_CARD_FILE
from bankrisk.config import Settings
from bankrisk.data.training_data import TrainingData, encode_digests, row_digests
from bankrisk.evaluation.fairness import fairness_report
from bankrisk.evaluation.metrics import classification_metrics
from bankrisk.evaluation.model_card import ModelCardInput, render_model_card
from bankrisk.evaluation.plots import save_evaluation_plots
from bankrisk.features.engineering import build_features, feature_names
from bankrisk.features.reasons import REASON_CODES
from bankrisk.monitoring.reference import reference_profiles
from bankrisk.schema import FIELD_NAMES, FIELDS, PROTECTED
from bankrisk.training.pipeline import CandidateResult


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
    features = build_features(data.raw[dev], settings.feature_set)
    profiles = reference_profiles(
        {
            **{name: data.raw[dev, j] for j, name in enumerate(FIELD_NAMES)},
            **{
                f"feature:{n}": features[:, i]
                for i, n in enumerate(feature_names(settings.feature_set))
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
        # Which rows the model was developed on, by content, so that `bankrisk evaluate` can
        # warn when it is asked to score them (not in the model card: it is 8 bytes a row).
        "training_rows": encode_digests(row_digests(data.raw[dev], data.labels[dev])),
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


def reason_code_rows(bundle: ModelBundle, raw: np.ndarray) -> list[dict[str, Any]]:
    """Every reason code's attributes with their text templates, and how often each was given
    (or suppressed as favourable) on `raw`, for the model card."""
    counts = bundle.reason_frequencies(raw)
    return [
        {
            "code": r.code,
            "group": r.group,
            "feature": r.feature,
            "attribute": a.key,
            "adverse": a.adverse,
            "text": a.text,
            **counts[(r.code, a.key)],
        }
        for r in REASON_CODES
        for a in r.attributes
    ]


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
    test_pd = placeholder.predict_pd(data.raw[test])
    metrics = classification_metrics(y_test, test_pd, result.threshold)
    protected = data.frame.iloc[test]
    fairness = fairness_report(
        y_test,
        test_pd,
        result.threshold,
        sex=protected["SEX"].to_numpy(),
        age=protected["AGE"].to_numpy(),
        marriage=protected["MARRIAGE"].to_numpy(),
    )
    metadata = bundle_metadata(result, data, dev, settings, version, metrics, fairness)
    bundle = result.bundle(settings, metadata)
    save_evaluation_plots(y_test, test_pd, out_dir, title=f"{result.name} (test split)")
    card = render_model_card(
        ModelCardInput(
            name=settings.registered_model_name,
            version=version,
            model_family=result.name,
            trained_at=metadata["trained_at"],
            data_fingerprint=metadata["data_fingerprint"],
            features=feature_names(settings.feature_set),
            excluded_inputs=metadata["excluded_inputs"],
            metrics=metrics,
            validation_metrics=result.cv_metrics,
            fairness=fairness,
            threshold=result.threshold,
            costs=metadata["costs"],
            score_scaling=bundle.policy.to_dict()["score_scaling"],
            grade_bands=bundle.policy.grade_bands(),
            use_education=settings.use_education,
            reason_codes=reason_code_rows(bundle, data.raw[test]),
            reason_policy=result.reason_policy.to_dict(),
        )
    )
    (out_dir / MODEL_CARD_FILE).write_text(card, encoding="utf-8")
    return bundle, metrics, card
