"""Small data factories for tests."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import Calibrator
from bankrisk.data.synthetic import synthetic_customers
from bankrisk.features.engineering import FeatureSet, build_features
from bankrisk.features.reasons import ReasonPolicy, reason_group_matrix
from bankrisk.schema import PROTECTED
from bankrisk.training.assessment import input_fields
from bankrisk.training.candidates.base import Candidate, Dataset
from bankrisk.training.candidates.gbm import GradientBoostedTrees
from bankrisk.training.candidates.mlp import MultilayerPerceptron
from bankrisk.training.candidates.scorecard import Scorecard


def make_raw(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Valid synthetic raw rows (FIELD_NAMES order) and labels that depend on delinquency."""
    return synthetic_customers(n, seed)


POLICY = DecisionPolicy(0.3, 0.15, (0.05, 0.1, 0.2, 0.4, 1.0), ScoreScaling(600, 50, 20))


def make_bundle(features: FeatureSet | None = None, family: str = "gbm") -> ModelBundle:
    """A small real bundle: boosted trees (or another `family`) on synthetic customers,
    identity calibration, reasons centred on the good payers as in training."""
    features = features or FeatureSet()
    raw, labels = make_raw(3000, seed=5)
    data = Dataset(build_features(raw, features), labels.astype(float))
    families: dict[str, Candidate] = {
        "gbm": GradientBoostedTrees(),
        "scorecard": Scorecard(),
        "mlp": MultilayerPerceptron(max_epochs=5),
    }
    model = families[family].fit(data, data.subset(np.arange(500)), seed=1, hints={})
    calibrator = Calibrator(slope=1.0, intercept=0.0)
    return ModelBundle(
        model.export(data.features[labels == 0], reason_group_matrix(features)),
        calibrator,
        POLICY,
        bundle_metadata(raw, labels),
        ReasonPolicy.from_development(raw, labels),
        features,
    )


def make_monitored_bundle() -> ModelBundle:
    """`make_bundle` with reference distributions of its training rows, as training writes
    them (the bins monitoring compares logged traffic with)."""
    from bankrisk.monitoring.reference import reference_profiles
    from bankrisk.schema import FIELD_NAMES

    bundle = make_bundle()
    raw, _ = make_raw(3000, seed=5)
    names = [f["name"] for f in bundle.describe()["features"]]
    features = bundle.features(raw)
    bundle.metadata["reference_distributions"] = reference_profiles(
        {
            **{name: raw[:, j] for j, name in enumerate(FIELD_NAMES)},
            **{f"feature:{n}": features[:, i] for i, n in enumerate(names)},
            "probability_of_default": bundle.predict_pd(raw),
        }
    )
    bundle.metadata["data_fingerprint"]["dev_rows"] = 3000
    return bundle


def bundle_metadata(raw: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """What training writes about the data (the parts the API serves): the training range of
    each input field (for out-of-range warnings), a data fingerprint and test metrics."""
    return {
        "name": "test-model",
        "version": "7",
        "model_family": "gbm",
        "data_fingerprint": {
            "file": "synthetic make_raw(n=3000, seed=5)",
            "sha256": hashlib.sha256(raw.tobytes()).hexdigest(),
            "rows": int(labels.size),
            "positive_rate": float(labels.mean()),
        },
        "input_fields": input_fields(raw),
        "excluded_inputs": list(PROTECTED),
        "test_metrics": {"roc_auc": 0.75, "brier": 0.2, "log_loss": 0.6},
    }
