"""Write a small synthetic serving bundle (numpy only) for building and testing the image.

    python deploy/demo_bundle.py OUT_DIR

Used by the container test and by CI builds of pull requests, where no model registry is
reachable. It is a binned scorecard with made-up points on synthetic customers: never deploy
it (its metadata says "name": "demo-synthetic"). Releases bake the registry's champion
(deploy/fetch_bundle.py).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.policy import DecisionPolicy, ScoreScaling
from bankrisk.bundle.predictors import Calibrator, ScorecardPredictor
from bankrisk.features.engineering import build_features
from bankrisk.schema import BILL_AMOUNTS, FIELD_NAMES, PAY_AMOUNTS, PAY_STATUS

DEMO_NAME = "demo-synthetic"
DEMO_VERSION = "0"


def synthetic_customers(n: int, seed: int = 0) -> np.ndarray:
    """Valid raw rows in FIELD_NAMES order."""
    rng = np.random.default_rng(seed)
    limit = rng.choice([10_000, 50_000, 100_000, 200_000, 500_000], n).astype(float)
    columns: dict[str, np.ndarray] = {
        "LIMIT_BAL": limit,
        "SEX": rng.integers(1, 3, n).astype(float),
        "EDUCATION": rng.integers(0, 7, n).astype(float),
        "MARRIAGE": rng.integers(0, 4, n).astype(float),
        "AGE": rng.integers(21, 70, n).astype(float),
    }
    status = rng.choice([-2, -1, 0, 0, 0, 1, 2, 3], size=(n, 6)).astype(float)
    bills = limit[:, None] * rng.uniform(-0.05, 1.0, size=(n, 6))
    paid = np.abs(bills) * rng.uniform(0.0, 0.3, size=(n, 6))
    for j, name in enumerate(PAY_STATUS):
        columns[name] = status[:, j]
    for j, name in enumerate(BILL_AMOUNTS):
        columns[name] = bills[:, j]
    for j, name in enumerate(PAY_AMOUNTS):
        columns[name] = paid[:, j]
    return np.column_stack([columns[name] for name in FIELD_NAMES])


def _scorecard(intercept: float, cuts: tuple[np.ndarray, ...], points: tuple[np.ndarray, ...],
               features: np.ndarray) -> ScorecardPredictor:
    """A ScorecardPredictor centred on `features`, built from whichever fields it has (the
    bundle format evolves; this script should not break each time it does)."""
    names = {f.name for f in dataclasses.fields(ScorecardPredictor)}
    kwargs: dict[str, Any] = {"intercept": intercept, "cuts": cuts, "points": points}
    if "groups" in names:
        from bankrisk.features import engineering

        kwargs["groups"] = engineering.reason_group_matrix(False)  # type: ignore[attr-defined]
        width = kwargs["groups"].shape[1]
    else:
        width = len(cuts)
    uncentred = ScorecardPredictor(**kwargs, reference=np.zeros(width))
    if hasattr(uncentred, "explain"):
        contributions = uncentred.explain(features)[1]
    else:
        contributions = uncentred.contributions(features)
    return ScorecardPredictor(**kwargs, reference=np.asarray(contributions).mean(axis=0))


def demo_bundle(seed: int = 0) -> ModelBundle:
    """A scorecard: quartile bins of each engineered feature, made-up logit points."""
    rng = np.random.default_rng(seed)
    features = build_features(synthetic_customers(2000, seed), use_age=False)
    cuts, points = [], []
    for j in range(features.shape[1]):
        edges = np.unique(np.quantile(features[:, j], [0.25, 0.5, 0.75]))
        cuts.append(edges.astype(np.float64))
        points.append(np.sort(rng.normal(0.0, 0.3, len(edges) + 1)))
    predictor = _scorecard(-1.4, tuple(cuts), tuple(points), features)
    calibrator = Calibrator("platt", np.array([1.0, 0.0]), np.zeros(0))
    policy = DecisionPolicy(
        0.3, 0.18, (0.02, 0.04, 0.07, 0.10, 0.15, 0.20, 0.30, 0.45, 0.65, 1.0),
        ScoreScaling(600.0, 50.0, 20.0),
    )
    return ModelBundle(predictor, calibrator, policy,
                       {"name": DEMO_NAME, "version": DEMO_VERSION}, use_age=False)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)  # noqa: T201
        return 2
    out = Path(argv[0])
    demo_bundle().save(out)
    ModelBundle.load(out)  # fail here, not in the container, if it does not round-trip
    print(f"demo bundle written to {out}")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
