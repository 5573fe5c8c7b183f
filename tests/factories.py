"""Small data factories for tests."""

from __future__ import annotations

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import Calibrator
from bankrisk.features.engineering import build_features, reason_group_matrix
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS


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
        {"name": "test-model", "version": "7"},
        use_age,
    )
