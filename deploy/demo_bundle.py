"""Write a small synthetic serving bundle (numpy only) for building and testing the image.

    python deploy/demo_bundle.py OUT_DIR

Used by the container test and by CI builds of pull requests, where no model registry is
reachable. It is a binned scorecard with made-up points on synthetic customers: never deploy
it (its metadata says "name": "demo-synthetic"). Releases bake the registry's champion
(deploy/fetch_bundle.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from bankrisk.bundle.model_bundle import ModelBundle
from bankrisk.bundle.predictors import Calibrator, ScorecardPredictor, centred
from bankrisk.config import Settings
from bankrisk.data.synthetic import synthetic_customers
from bankrisk.features.engineering import DEFAULT_FEATURES, build_features
from bankrisk.features.reasons import ReasonPolicy, reason_group_matrix
from bankrisk.training.decision import make_policy

DEMO_NAME = "demo-synthetic"
DEMO_VERSION = "0"
DEMO_THRESHOLD = 0.3  # the decline cut-off; the rest of the policy is the settings' defaults


def demo_bundle(seed: int = 0) -> ModelBundle:
    """A scorecard: quartile bins of each engineered feature, made-up logit points."""
    rng = np.random.default_rng(seed)
    raw, labels = synthetic_customers(2000, seed)
    features = build_features(raw, DEFAULT_FEATURES)
    cuts, points = [], []
    for j in range(features.shape[1]):
        edges = np.unique(np.quantile(features[:, j], [0.25, 0.5, 0.75]))
        cuts.append(edges.astype(np.float64))
        points.append(np.sort(rng.normal(0.0, 0.3, len(edges) + 1)))
    groups = reason_group_matrix(DEFAULT_FEATURES)
    predictor = centred(  # on the good-risk baseline, as training does
        ScorecardPredictor(-1.4, tuple(cuts), tuple(points), groups, np.zeros(groups.shape[1])),
        features[labels == 0],
    )
    calibrator = Calibrator(slope=1.0, intercept=0.0)
    # The policy training would write at this threshold with the default settings: built
    # without reading BANKRISK_ variables, so the demo bundle is the same wherever it is made.
    policy = make_policy(Settings.model_construct(), DEMO_THRESHOLD)
    return ModelBundle(predictor, calibrator, policy,
                       {"name": DEMO_NAME, "version": DEMO_VERSION},
                       ReasonPolicy.from_development(raw, labels), DEFAULT_FEATURES)


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
