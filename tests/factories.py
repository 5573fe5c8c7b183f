"""Small data factories for tests."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import Calibrator
from bankrisk.features.engineering import build_features, reason_group_matrix
from bankrisk.schema import (
    BILL_AMOUNTS,
    FIELD_NAMES,
    FIELDS,
    PAY_AMOUNTS,
    PAY_STATUS,
    PROTECTED,
)


def make_raw(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Valid synthetic raw rows (FIELD_NAMES order) and labels that depend on delinquency."""
    rng = np.random.default_rng(seed)
    limit = rng.choice([10_000, 50_000, 100_000, 200_000, 500_000], n).astype(float)
    status = rng.choice([-2, -1, 0, 0, 0, 1, 2, 3], size=(n, 6)).astype(float)
    bills = limit[:, None] * rng.uniform(-0.05, 1.0, size=(n, 6))
    paid = np.abs(bills) * rng.uniform(0.0, 0.3, size=(n, 6))
    columns = {
        "LIMIT_BAL": limit,
        "SEX": rng.integers(1, 3, n),
        "EDUCATION": rng.integers(0, 7, n),
        "MARRIAGE": rng.integers(0, 4, n),
        "AGE": rng.integers(21, 70, n),
    }
    for j, name in enumerate(PAY_STATUS):
        columns[name] = status[:, j]
    for j, name in enumerate(BILL_AMOUNTS):
        columns[name] = bills[:, j]
    for j, name in enumerate(PAY_AMOUNTS):
        columns[name] = paid[:, j]
    raw = np.column_stack([np.asarray(columns[name], dtype=float) for name in FIELD_NAMES])
    risk = -1.5 + 0.8 * np.clip(status[:, 0], 0, None) + 1.0 * (bills[:, 0] / limit)
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-risk))).astype(np.int64)
    return raw, labels


POLICY = DecisionPolicy(0.3, 0.15, (0.05, 0.1, 0.2, 0.4, 1.0), ScoreScaling(600, 50, 20))


def make_bundle(use_age: bool = False) -> ModelBundle:
    """A small real bundle: boosted trees on synthetic customers, identity calibration."""
    from bankrisk.training.candidates.base import Dataset
    from bankrisk.training.candidates.gbm import GradientBoostedTrees

    raw, labels = make_raw(3000, seed=5)
    data = Dataset(build_features(raw, use_age), labels.astype(float))
    model = GradientBoostedTrees().fit(data, data.subset(np.arange(500)), seed=1, hints={})
    calibrator = Calibrator("platt", np.array([1.0, 0.0]), np.zeros(0))
    return ModelBundle(
        model.export(data.features, reason_group_matrix(use_age)),
        calibrator,
        POLICY,
        bundle_metadata(raw, labels),
        use_age,
    )


def bundle_metadata(raw: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """What training writes about the data (the parts the API serves): the training range of
    each input field (for out-of-range warnings), a data fingerprint and test metrics."""
    return {
        "name": "test-model",
        "version": "7",
        "model_family": "gbm",
        "data_fingerprint": {
            "path": "synthetic://make_raw?n=3000&seed=5",
            "sha256": hashlib.sha256(raw.tobytes()).hexdigest(),
            "rows": int(labels.size),
            "positive_rate": float(labels.mean()),
        },
        "input_fields": [
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
        ],
        "excluded_inputs": list(PROTECTED),
        "test_metrics": {"roc_auc": 0.75, "brier": 0.2, "log_loss": 0.6},
    }
